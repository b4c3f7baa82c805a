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
public struct ModelSpec: Codable, Sendable, Equatable {
    public struct Table: Codable, Sendable, Equatable {
        public var name: String
        public var rows: Int
        public var dimension: Int
        public var lookups: Int
        public var zipf: Double
    }

    public struct Dense: Codable, Sendable, Equatable {
        public var name: String
        public var inputs: Int
        public var outputs: Int
        /// Weights and bias.
        public var parameters: Int { inputs * outputs + outputs }
    }

    public var name: String
    public var batch: Int
    public var tables: [Table]
    public var dense: [Dense]

    /// Reads and checks a spec; throws `invalidArgument` naming what is wrong.
    public static func load(_ path: String) throws -> ModelSpec {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw HybridSyncError.invalidArgument("cannot read model spec \(path): \(error.localizedDescription)")
        }
        let spec: ModelSpec
        do { spec = try JSONDecoder().decode(ModelSpec.self, from: data) } catch {
            throw HybridSyncError.invalidArgument("model spec \(path) is not valid: \(error)")
        }
        try spec.validate()
        return spec
    }

    public func validate() throws {
        guard batch >= 1 else { throw HybridSyncError.invalidArgument("model spec '\(name)': batch must be >= 1") }
        for t in tables {
            guard t.rows >= 1, t.dimension >= 1, t.lookups >= 1, t.zipf >= 0 else {
                throw HybridSyncError.invalidArgument("model spec '\(name)': table '\(t.name)' needs rows, dimension, lookups >= 1 and zipf >= 0")
            }
        }
        for d in dense where d.inputs < 1 || d.outputs < 1 {
            throw HybridSyncError.invalidArgument("model spec '\(name)': dense layer '\(d.name)' needs inputs and outputs >= 1")
        }
    }
}
