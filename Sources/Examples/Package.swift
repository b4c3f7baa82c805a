// swift-tools-version:6.0
import PackageDescription

// Programs a user can copy. This package depends on HybridSync as any outside package does (by path
// here; by URL in yours), so it compiles only against HybridSync's public API.
let package = Package(
    name: "HybridSyncExamples",
    dependencies: [.package(name: "HybridSync", path: "../..")],
    targets: [
        // The trainer the demo (`hybridsync train`) runs; HybridSync's own package builds the same
        // files as its `WideAndDeep` module.
        .target(name: "WideAndDeepExample", dependencies: [.product(name: "HybridSync", package: "HybridSync")], path: "WideAndDeep"),
        .executableTarget(name: "wide-and-deep", dependencies: ["WideAndDeepExample"], path: "TrainWideAndDeep"),
        .executableTarget(name: "readme-loop", dependencies: [.product(name: "HybridSync", package: "HybridSync")], path: "ReadmeLoop"),
        .executableTarget(
            name: "ps-worker", dependencies: [.product(name: "HybridSyncCore", package: "HybridSync"), .product(name: "HybridSyncPS", package: "HybridSync")],
            path: "PSWorker"),
    ],
    swiftLanguageModes: [.v6]
)
