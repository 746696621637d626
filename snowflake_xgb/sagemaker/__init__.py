"""The SageMaker training contract: the /opt/ml folders, the hosts, the failure file, the exit."""
