#ifndef EDGESCOPE_CPCAP_SHIM_H
#define EDGESCOPE_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif
