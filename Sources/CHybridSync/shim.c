// The C ABI is implemented in Swift (Sources/HybridSyncC); this target only carries its header.
#include "hybridsync.h"
