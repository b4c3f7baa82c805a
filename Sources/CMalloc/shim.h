#ifndef HYBRIDSYNC_CMALLOC_SHIM_H
#define HYBRIDSYNC_CMALLOC_SHIM_H
// glibc's malloc tunables (mallopt), which Swift's Glibc module leaves out.
#include <malloc.h>
#endif
