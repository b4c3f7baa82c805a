import ArgumentParser
HybridSyncCommand.main()
