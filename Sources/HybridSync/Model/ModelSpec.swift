import Foundation
import HybridSyncCore

/// A model description for planning and benchmarks: embedding tables with their access pattern, and
/// dense layers. Read from JSON:
///
/// ```json
/// {"name": "dlrm-sparse", "batch": 512,
///  "tables": [{"name": "t0", "rows": 1000000, "dimension": 32, "lookups": 20, "zipf": 1.05}],
///  "dense": [{"name": "top.fc1", "inputs": 512, "outputs": 1024}]}
/// ```
/// `lookups` is ids per sample; `zipf` the exponent of row popularity; `batch` samples per worker step.
package struct ModelSpec: Codable, Sendable, Equatable {
    package struct Table: Codable, Sendable, Equatable {
        package var name: String
        package var rows: Int
        package var dimension: Int
        package var lookups: Int
        package var zipf: Double
    }

    package struct Dense: Codable, Sendable, Equatable {
        package var name: String
        package var inputs: Int
        package var outputs: Int
        /// Weights and bias.
        package var parameters: Int { inputs * outputs + outputs }
    }

    package var name: String
    package var batch: Int
    package var tables: [Table]
    package var dense: [Dense]

    /// Reads and checks a spec; throws `invalidArgument` naming what is wrong.
    package static func load(_ path: String) throws -> ModelSpec {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw HybridSyncError.invalidArgument(.io, "cannot read model spec \(path): \(error.localizedDescription)")
        }
        let spec: ModelSpec
        do { spec = try JSONDecoder().decode(ModelSpec.self, from: data) } catch {
            throw HybridSyncError.invalidArgument(.configuration, "model spec \(path) is not valid: \(error)")
        }
        try spec.validate()
        return spec
    }

    package func validate() throws {
        guard batch >= 1 else { throw HybridSyncError.invalidArgument(.configuration, "model spec '\(name)': batch must be >= 1") }
        for t in tables {
            guard t.rows >= 1, t.dimension >= 1, t.lookups >= 1, t.zipf >= 0 else {
                throw HybridSyncError.invalidArgument(
                    .configuration, "model spec '\(name)': table '\(t.name)' needs rows, dimension, lookups >= 1 and zipf >= 0")
            }
        }
        for d in dense where d.inputs < 1 || d.outputs < 1 {
            throw HybridSyncError.invalidArgument(.configuration, "model spec '\(name)': dense layer '\(d.name)' needs inputs and outputs >= 1")
        }
    }
}
