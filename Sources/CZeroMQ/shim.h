#ifndef HYBRIDSYNC_CZEROMQ_SHIM_H
#define HYBRIDSYNC_CZEROMQ_SHIM_H
#include <zmq.h>
#endif
