"""The scheduler: demand from a definition, rejection reasons, scoring and the explanation."""

from __future__ import annotations

from dockyard.placement.scheduler import (
    ALL_GPUS,
    Demand,
    NodeState,
    definition_demand,
    evaluate,
    place,
)
from dockyard.services.compose import parse_definition

GIB = 1024**3


def node(node_id: int, name: str, **kw: object) -> NodeState:
    values: dict[str, object] = {"online": True, "cpus": 4.0, "memory_bytes": 8 * GIB}
    values.update(kw)
    return NodeState(id=node_id, name=name, **values)  # type: ignore[arg-type]


def test_demand_counts_reservations_largest_limits_gpus_and_fixed_ports() -> None:
    defn = parse_definition(
        {
            "services": {
                "a": {
                    "image": "x",
                    "cpus": 2,
                    "mem_limit": "1g",
                    "ports": ["8080:80", "auto:81", "127.0.0.1:9090:90/udp"],
                },
                "b": {
                    "image": "x",
                    "cpus": 4,
                    "deploy": {
                        "resources": {
                            "reservations": {
                                "cpus": "0.5",
                                "memory": "256m",
                                "devices": [{"capabilities": ["gpu"], "count": 2}],
                            }
                        }
                    },
                    "mem_limit": "2g",
                },
            }
        }
    )
    demand = definition_demand(defn)
    assert demand.cpus == 0.5  # b's reservation: limits are caps, not reservations
    assert demand.memory_bytes == 256 * 1024**2
    assert demand.largest_cpus_limit == 4
    assert demand.largest_memory_limit == 2 * GIB
    assert demand.gpus == 2
    assert demand.ports == ((8080, "tcp"), (9090, "udp"))


def test_all_gpus_is_its_own_marker() -> None:
    defn = parse_definition({"services": {"a": {"image": "x", "gpus": "all"}}})
    assert definition_demand(defn).gpus == ALL_GPUS


def test_most_room_wins_and_the_explanation_names_every_node() -> None:
    busy = node(1, "busy", reserved_cpus=3.0, reserved_memory=6 * GIB)
    idle = node(2, "idle")
    chosen, explanation = place(Demand(cpus=1, memory_bytes=GIB), [busy, idle])
    assert chosen is idle
    assert explanation["chosen"]["node_name"] == "idle"
    assert any("highest score" in r for r in explanation["chosen"]["reasons"])
    scores = {c["node_name"]: c["score"] for c in explanation["candidates"]}
    # busy: (0/4 + 1/8)/2, idle: (3/4 + 7/8)/2
    assert scores == {"busy": 0.0625, "idle": 0.8125}


def test_ties_go_to_fewer_services_then_lowest_id() -> None:
    a, b, c = node(1, "a", services=2), node(2, "b", services=1), node(3, "c", services=1)
    chosen, _ = place(Demand(), [a, b, c])
    assert chosen is b


def test_every_rejection_reason_is_listed() -> None:
    demand = Demand(
        cpus=2,
        memory_bytes=16 * GIB,
        gpus=1,
        ports=((8080, "tcp"),),
        labels={"disk": "ssd", "zone": "a"},
        cluster_id=7,
        cluster_name="edge",
    )
    bad = node(
        1,
        "bad",
        online=False,
        offline_reason="its agent is not connected",
        labels={"disk": "hdd"},
        clusters=frozenset({3}),
        reserved_cpus=3.5,
        ports_in_use={(8080, "tcp"): "service web"},
    )
    chosen, explanation = place(demand, [bad])
    assert chosen is None
    assert explanation["chosen"] is None
    reasons = explanation["candidates"][0]["reasons"]
    assert reasons == [
        "offline: its agent is not connected",
        "not a member of cluster edge",
        "label disk=ssd required, the node has disk=hdd",
        "label zone=a required, the node has no label zone",
        "needs 2 CPUs, 0.5 of 4 unreserved",
        "needs 16 GiB memory, 8 GiB of 8 GiB unreserved",
        "needs 1 GPUs, 0 of 0 free",
        "host port 8080/tcp is in use by service web",
    ]


def test_gpu_label_capacity_and_all_gpus() -> None:
    gpu = node(1, "gpu", gpus=2, reserved_gpus=1)
    assert place(Demand(gpus=1), [gpu])[0] is gpu
    assert place(Demand(gpus=2), [gpu])[0] is None
    assert place(Demand(gpus=ALL_GPUS), [gpu])[0] is None  # one is taken already
    assert place(Demand(gpus=ALL_GPUS), [node(2, "free", gpus=1)])[0] is not None


def test_unknown_capacity_refuses_a_reservation_but_not_an_empty_demand() -> None:
    blind = node(1, "blind", cpus=None, memory_bytes=None)
    assert place(Demand(), [blind])[0] is blind
    _, explanation = place(Demand(cpus=1, memory_bytes=GIB), [blind])
    assert explanation["candidates"][0]["reasons"] == [
        "needs 1 CPUs, the node's CPU count is unknown",
        "needs 1 GiB memory, the node's memory size is unknown",
    ]


def test_cluster_and_labels_pick_the_member() -> None:
    outside = node(1, "outside", labels={"disk": "ssd"})
    member = node(2, "member", labels={"disk": "ssd"}, clusters=frozenset({5}), services=9)
    chosen, explanation = place(
        Demand(cluster_id=5, cluster_name="c", labels={"disk": "ssd"}), [outside, member]
    )
    assert chosen is member
    assert "member of cluster c" in explanation["chosen"]["reasons"]
    assert explanation["candidates"][0]["reasons"] == ["not a member of cluster c"]


def test_a_container_larger_than_the_node_is_refused_by_its_limits() -> None:
    small = node(1, "small")  # 4 CPUs, 8 GiB
    verdict = evaluate(Demand(largest_cpus_limit=6, largest_memory_limit=16 * GIB), small)
    assert not verdict.eligible
    assert verdict.reasons == [
        "a container's CPU limit of 6 exceeds the node's 4 CPUs",
        "a container's memory limit of 16 GiB exceeds the node's 8 GiB",
    ]
    # Limits within the node's size take no capacity: many such services fit.
    assert evaluate(Demand(largest_cpus_limit=4, largest_memory_limit=8 * GIB), small).eligible
