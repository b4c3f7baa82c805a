// swift-tools-version:6.0
import PackageDescription

// Dependency direction (one way, top to bottom):
//   hybridsync (executable; also CMalloc: glibc's malloc tunables for its own processes)
//   HybridSyncC (the C ABI, libhybridsync.so; its header is CHybridSync's)
//     -> HybridSync (umbrella: planner, unified gradient-sync API, mpirun launch)
//     -> HybridSyncCollectives (dense path, the only module that imports MPI) -> CMPI
//     -> HybridSyncPS (parameter server) -> HybridSyncZMQ (the only module that imports libzmq) -> CZeroMQ
//     -> HybridSyncCrypto (the secure channel; the only module that imports OpenSSL) -> COpenSSL
//     -> HybridSyncCore (no C imports: element types, ops, errors, ring schedule, codecs)
let package = Package(
    name: "HybridSync",
    products: [
        .library(name: "HybridSyncCore", targets: ["HybridSyncCore"]),
        .library(name: "HybridSyncCollectives", targets: ["HybridSyncCollectives"]),
        .library(name: "HybridSyncPS", targets: ["HybridSyncPS"]),
        .library(name: "HybridSync", targets: ["HybridSync"]),
        .executable(name: "hybridsync", targets: ["hybridsync"]),
        // The C ABI (`Sources/CHybridSync/include/hybridsync.h`) that C, C++ and Python programs link.
        .library(name: "HybridSyncC", type: .dynamic, targets: ["HybridSyncC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // libzmq: pkgConfig left off on purpose (Debian's libzmq.pc adds -isystem flags SwiftPM rejects).
        .systemLibrary(
            name: "CZeroMQ",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]
        ),
        // OpenSSL's libcrypto (X25519, HKDF, AES-256-GCM) for the secure channel.
        .systemLibrary(name: "COpenSSL", providers: [.apt(["libssl-dev"])]),
        // glibc's malloc.h (mallopt), for the executable's own processes only.
        .systemLibrary(name: "CMalloc"),
        .target(name: "HybridSyncCore"),
        .target(
            name: "HybridSyncCollectives",
            dependencies: ["HybridSyncCore", "CMPI", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "HybridSyncCrypto", dependencies: ["HybridSyncCore", "COpenSSL"]),
        .target(name: "HybridSyncZMQ", dependencies: ["HybridSyncCore", "HybridSyncCrypto", "CZeroMQ"]),
        .target(name: "HybridSyncPS", dependencies: ["HybridSyncCore", "HybridSyncZMQ", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "HybridSync", dependencies: ["HybridSyncCore", "HybridSyncCollectives", "HybridSyncPS", .product(name: "Logging", package: "swift-log")]),
        // The C ABI: the header (a C target of its own, so the Swift side is checked against its types)
        // and its implementation in Swift over the public API.
        .target(name: "CHybridSync"),
        .target(name: "HybridSyncC", dependencies: ["CHybridSync", "HybridSync", .product(name: "Logging", package: "swift-log")]),
        // In-process transports and helpers to run whole jobs as threads of one process (tests, fuzzing).
        .target(
            name: "HybridSyncTestKit",
            dependencies: [
                "HybridSyncCore", "HybridSyncCollectives", "HybridSyncPS", "HybridSyncZMQ", "HybridSync",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The wide-and-deep trainer of the examples package (`Sources/Examples`), public API only; the
        // demo (`hybridsync train`) runs it.
        .target(name: "WideAndDeep", dependencies: ["HybridSync"], path: "Sources/Examples/WideAndDeep"),
        .executableTarget(
            name: "hybridsync",
            dependencies: [
                "WideAndDeep",
                "HybridSyncTestKit",
                "HybridSyncCore",
                "HybridSyncCollectives",
                "HybridSyncPS",
                "HybridSyncZMQ",
                "HybridSync",
                "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Multi-process check jobs the tests start under mpirun and `ps local`; not a product.
        .executableTarget(
            name: "hybridsync-testjobs",
            dependencies: [
                "HybridSync",
                "HybridSyncTestKit",
                "HybridSyncZMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // libFuzzer target over the wire decoder and the nodes' message handling (`Launch/fuzz`); an
        // ordinary build writes its seed corpus instead.
        .executableTarget(name: "hybridsync-fuzz", dependencies: ["HybridSyncCore", "HybridSyncPS"]),
        .testTarget(name: "HybridSyncCoreTests", dependencies: ["HybridSyncCore"]),
        .testTarget(name: "HybridSyncCryptoTests", dependencies: ["HybridSyncCrypto", "HybridSyncCore"]),
        .testTarget(name: "HybridSyncCollectivesTests", dependencies: ["HybridSyncCore", "HybridSyncCollectives", "HybridSyncTestKit"]),
        .testTarget(
            name: "HybridSyncPSTests",
            dependencies: [
                "HybridSyncPS", "HybridSyncCore", "HybridSyncTestKit", "HybridSyncZMQ", "HybridSyncCrypto",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "HybridSyncTests", dependencies: ["HybridSync", "HybridSyncCore", "HybridSyncTestKit"]),
    ],
    swiftLanguageModes: [.v6]
)
