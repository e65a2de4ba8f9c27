#include <string.h>
#include <rte_errno.h>
#include <rte_flow.h>
#include <rte_byteorder.h>
#include "flow.h"

int rvs_flow_steer_dst_port(uint16_t port_id, int is_v6, const uint8_t *addr, uint8_t l4_proto,
                            uint16_t port_value, uint16_t port_mask, uint16_t queue,
                            int validate_only, const char **message)
{
    struct rte_flow_attr attr = { .ingress = 1 };
    struct rte_flow_item_ipv4 ip4_spec, ip4_mask;
    struct rte_flow_item_ipv6 ip6_spec, ip6_mask;
    struct rte_flow_item_tcp tcp_spec, tcp_mask;
    struct rte_flow_item_udp udp_spec, udp_mask;
    struct rte_flow_item pattern[4];
    struct rte_flow_action_queue to_queue = { .index = queue };
    struct rte_flow_action actions[2];
    struct rte_flow_error error;

    memset(pattern, 0, sizeof(pattern));
    memset(actions, 0, sizeof(actions));
    memset(&error, 0, sizeof(error));
    *message = NULL;

    pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
    if (is_v6) {
        memset(&ip6_spec, 0, sizeof(ip6_spec));
        memset(&ip6_mask, 0, sizeof(ip6_mask));
        memcpy(ip6_spec.hdr.dst_addr, addr, 16);
        memset(ip6_mask.hdr.dst_addr, 0xff, 16);
        pattern[1].type = RTE_FLOW_ITEM_TYPE_IPV6;
        pattern[1].spec = &ip6_spec;
        pattern[1].mask = &ip6_mask;
    } else {
        memset(&ip4_spec, 0, sizeof(ip4_spec));
        memset(&ip4_mask, 0, sizeof(ip4_mask));
        memcpy(&ip4_spec.hdr.dst_addr, addr, 4);
        ip4_mask.hdr.dst_addr = 0xffffffff;
        pattern[1].type = RTE_FLOW_ITEM_TYPE_IPV4;
        pattern[1].spec = &ip4_spec;
        pattern[1].mask = &ip4_mask;
    }
    if (l4_proto == 6) {
        memset(&tcp_spec, 0, sizeof(tcp_spec));
        memset(&tcp_mask, 0, sizeof(tcp_mask));
        tcp_spec.hdr.dst_port = rte_cpu_to_be_16(port_value);
        tcp_mask.hdr.dst_port = rte_cpu_to_be_16(port_mask);
        pattern[2].type = RTE_FLOW_ITEM_TYPE_TCP;
        pattern[2].spec = &tcp_spec;
        pattern[2].mask = &tcp_mask;
    } else {
        memset(&udp_spec, 0, sizeof(udp_spec));
        memset(&udp_mask, 0, sizeof(udp_mask));
        udp_spec.hdr.dst_port = rte_cpu_to_be_16(port_value);
        udp_mask.hdr.dst_port = rte_cpu_to_be_16(port_mask);
        pattern[2].type = RTE_FLOW_ITEM_TYPE_UDP;
        pattern[2].spec = &udp_spec;
        pattern[2].mask = &udp_mask;
    }
    pattern[3].type = RTE_FLOW_ITEM_TYPE_END;
    actions[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
    actions[0].conf = &to_queue;
    actions[1].type = RTE_FLOW_ACTION_TYPE_END;

    int rc = rte_flow_validate(port_id, &attr, pattern, actions, &error);
    if (rc == 0 && !validate_only) {
        if (rte_flow_create(port_id, &attr, pattern, actions, &error) == NULL)
            rc = -rte_errno;
    }
    if (rc != 0)
        *message = error.message;
    return rc;
}
