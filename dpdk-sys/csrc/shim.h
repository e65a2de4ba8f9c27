/* rvs shim: real symbols for DPDK's static-inline fast-path functions,
 * which bindgen cannot link to. Keep every function a one-line forward. */
#ifndef RVS_SHIM_H
#define RVS_SHIM_H
#include <stdint.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

uint16_t rvs_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t rvs_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

struct rte_mbuf *rvs_pktmbuf_alloc(struct rte_mempool *mp);
int rvs_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count);
void rvs_pktmbuf_free(struct rte_mbuf *m);
void rvs_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count);

/* Mbuf lengths and room (the first segment's address and length are read from the struct
   fields in Rust, dataplane/src/dpdk/mbuf.rs `first_segment`). */
uint32_t rvs_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t rvs_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t rvs_pktmbuf_tailroom(const struct rte_mbuf *m);
char *rvs_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *rvs_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *rvs_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int rvs_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
/* rte_pktmbuf_chain: append tail's segments to head (0, or -EOVERFLOW: nothing done). */
int rvs_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail);
int rvs_pktmbuf_linearize(struct rte_mbuf *m);
uint32_t rvs_mbuf_rss_hash(const struct rte_mbuf *m);
uint16_t rvs_mbuf_port(const struct rte_mbuf *m);
uint64_t rvs_mbuf_ol_flags(const struct rte_mbuf *m);

unsigned rvs_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned n);
unsigned rvs_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned n);
unsigned rvs_ring_count(const struct rte_ring *r);
unsigned rvs_ring_free_count(const struct rte_ring *r);

unsigned rvs_lcore_id(void);
uint64_t rvs_rdtsc(void);
int rvs_errno(void);
void rvs_pause(void);
/* RSS hash types rvs asks for (the RTE_ETH_RSS_* macros are not plain constants). */
uint64_t rvs_rss_hf_ip_tcp_udp(void);
#endif
