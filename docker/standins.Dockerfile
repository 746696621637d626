# Stand-ins for Snowflake (fakesnow in server mode) and AWS Secrets Manager (moto server),
# used by local mode (local_test/) and the container tests. Not for production.
#
# Independent of the package, so that its layers stay cached while the package changes.
# Build from the repository root (or: make build-standins):
#   docker build -f docker/standins.Dockerfile -t snowflake-xgb-standins:latest .
ARG BASE_IMAGE=python:3.13-slim
FROM ${BASE_IMAGE}
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LANG=C.UTF-8
COPY docker/certs/ /tmp/certs/
# The stand-ins' own environment (fakesnow keeps its connector pin here, not in the product).
COPY local_test/standins-requirements.txt /tmp/standins-requirements.txt
RUN set -e; \
    if [ -s /tmp/certs/ca-certificates.crt ]; then export PIP_CERT=/tmp/certs/ca-certificates.crt; fi; \
    python3 -m venv /opt/venv; \
    pip install --upgrade pip; \
    pip install -r /tmp/standins-requirements.txt; \
    rm -rf /tmp/certs /root/.cache /tmp/standins-requirements.txt; \
    fakesnow --help >/dev/null; command -v moto_server
# The starter (fakesnow behind our Snowflake-shaped front, with the modules the front imports)
# and the seeding script, which needs only the connector and boto3.
COPY local_test/standin_servers.py local_test/snowflake_front.py local_test/query_lifecycle.py \
     local_test/result_store.py local_test/arrow_encodings.py local_test/stages.py \
     local_test/workload_identity_check.py local_test/seed_standins.py \
     /opt/standins/
CMD ["python", "/opt/standins/standin_servers.py", "snowflake", "--host", "0.0.0.0", "--port", "8080"]
