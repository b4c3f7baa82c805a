import Foundation

#if canImport(Glibc)
    import CMalloc
#endif

/// Keeps large freed blocks mapped in this process (the `hybridsync` executable's own processes:
/// scheduler, servers, bench and demo workers), unless `MALLOC_MMAP_THRESHOLD_` or
/// `MALLOC_TRIM_THRESHOLD_` already says otherwise.
///
/// libzmq allocates every received message of more than a few hundred bytes with malloc on its I/O
/// thread. With glibc's defaults a multi-megabyte frame is a fresh mapping (or is trimmed off the heap
/// once freed), so every large push or pull paid a page fault and a kernel zeroing per 4 KiB on the
/// receiving side: about 1 ms of a 16 MB push here (measured: `Docs/Benchmarks.md`). Messages up to
/// 64 MiB now come from the heap and up to 256 MiB of free heap is kept. Library users who embed a
/// worker in their own process choose their own policy (the same two variables do it).
func tuneMallocForLargeMessages() {
    #if canImport(Glibc)
        let env = ProcessInfo.processInfo.environment
        if env["MALLOC_MMAP_THRESHOLD_"] == nil { _ = mallopt(M_MMAP_THRESHOLD, 64 << 20) }
        if env["MALLOC_TRIM_THRESHOLD_"] == nil { _ = mallopt(M_TRIM_THRESHOLD, 256 << 20) }
    #endif
}
