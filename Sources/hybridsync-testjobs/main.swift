import ArgumentParser
import HybridSync

/// Multi-process jobs the test suite starts under mpirun and `hybridsync ps local`: they check the
/// library over real Open MPI and real ZeroMQ and print result lines the tests read. Not shipped to
/// users (the `hybridsync` tool has no test code).
struct TestJobs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hybridsync-testjobs",
        abstract: "Multi-process checks run by the test suite.",
        subcommands: [SelfTestAllreduce.self, SelfTestAgreement.self, SelfTestHybrid.self, PSCheck.self]
    )
}

do {
    TestJobs.main(Array(try bootstrapLogging(Array(CommandLine.arguments.dropFirst()))))
} catch {
    TestJobs.exit(withError: error)
}
