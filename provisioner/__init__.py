"""dcos-provision: a Mesos datacenter OS cluster (ZooKeeper + masters + agents) from one spec."""

__version__ = "0.1.0"
