/* The floor for reading a capture: libpcap's pcap_next_ex over every record,
 * counting packets and captured bytes, nothing else.  compare.sh builds it with
 *   cc -O2 -o bare-read bare-read.c -lpcap
 * and times it beside tcpdump, tshark and edgescope on the same file. */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdint.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *handle = pcap_open_offline_with_tstamp_precision(argv[1], PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (handle == NULL) {
        fprintf(stderr, "%s: %s\n", argv[1], errbuf);
        return 1;
    }
    struct pcap_pkthdr *header;
    const u_char *data;
    uint64_t packets = 0, bytes = 0, checksum = 0;
    int rc;
    while ((rc = pcap_next_ex(handle, &header, &data)) == 1) {
        packets++;
        bytes += header->caplen;
        /* Touch the first byte so the record is really read, as any analyser must. */
        if (header->caplen > 0) checksum += data[0];
    }
    if (rc != PCAP_ERROR_BREAK) {
        fprintf(stderr, "%s: %s\n", argv[1], pcap_geterr(handle));
        pcap_close(handle);
        return 1;
    }
    pcap_close(handle);
    printf("packets=%llu bytes=%llu checksum=%llu\n",
           (unsigned long long)packets, (unsigned long long)bytes, (unsigned long long)checksum);
    return 0;
}
