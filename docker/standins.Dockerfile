# Stand-ins for Snowflake (fakesnow in server mode) and AWS Secrets Manager (moto server),
# used by local mode (local_test/) and the container tests. Not for production.
#
# Independent of the package, so that its layers stay cached while the package changes.
# Build from the repository root (or: make build-standins):
#   docker build -f docker/standins.Dockerfile -t snowflake-xgb-standins:latest .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
# fakesnow 0.12 fails with snowflake-connector-python 5.x (see pyproject.toml's pin).
ARG STANDINS_PACKAGES="fakesnow[server]==0.12.1 moto[server]>=5.0,<6 snowflake-connector-python>=4.0,<5 boto3"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LANG=C.UTF-8
COPY docker/certs/ /tmp/certs/
RUN set -e; \
    if [ -s /tmp/certs/ca-certificates.crt ]; then export PIP_CERT=/tmp/certs/ca-certificates.crt; fi; \
    python3 -m venv /opt/venv; \
    pip install --upgrade pip; \
    pip install $STANDINS_PACKAGES; \
    rm -rf /tmp/certs /root/.cache; \
    fakesnow --help >/dev/null; command -v moto_server
# The seeding script (local_test/seed_standins.py) needs only the connector and boto3.
COPY local_test/seed_standins.py /opt/standins/seed_standins.py
CMD ["fakesnow", "-s", "--host", "0.0.0.0", "-p", "8080"]
