"""``python -m tests.ray_cluster TEMP_DIR NODES``: a Ray cluster of NODES nodes (a head and
NODES - 1 more raylets, one CPU each) on this machine, on 127.0.0.1 only, until SIGTERM.

Ray's own multi-node test tool, ``ray.cluster_utils.Cluster``, starts each node's processes
(GCS on the head, a raylet, an object store and agents on every node). On one line it prints
``{"address": ..., "node_ids": [...]}`` once every node has joined; on SIGTERM or SIGINT it
shuts the cluster down and exits. ``ray start --address`` would refuse to join a head that
binds loopback only (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0), and without that setting Ray's
agents listen on every interface.
"""

from __future__ import annotations

import json
import signal
import sys

from ray.cluster_utils import Cluster


def main(temp_dir: str, nodes: int) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    one_cpu = {"num_cpus": 1, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args={**one_cpu, "temp_dir": temp_dir})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        node_ids = [node.node_id for node in cluster.list_all_nodes()]
        print(json.dumps({"address": cluster.address, "node_ids": node_ids}), flush=True)
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
