# Stand-ins for Snowflake (fakesnow in server mode) and AWS Secrets Manager (moto server),
# used by local mode (local_test/) and the container tests. Not for production.
#
# Built on top of the training image (which already holds snowflake-connector-python and
# boto3, needed by the seeding script), from the repository root:
#   docker build -f docker/standins.Dockerfile --build-arg IMAGE=snowflake-xgb:latest \
#       -t snowflake-xgb-standins:latest .                    (or: make build-standins)
ARG IMAGE=snowflake-xgb:latest
FROM ${IMAGE}
# fakesnow 0.12 needs snowflake-connector-python < 5 (as pinned in pyproject.toml).
ARG STANDINS_PACKAGES="fakesnow[server]==0.12.1 moto[server]>=5.0,<6"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
COPY docker/certs/ /tmp/certs/
# Keep every package the training image holds at its version (constraints), so the stand-ins
# run against the very connector and boto3 the job uses.
RUN set -e; \
    if [ -s /tmp/certs/ca-certificates.crt ]; then export PIP_CERT=/tmp/certs/ca-certificates.crt; fi; \
    pip freeze --exclude-editable | grep -v -e '@' -e '^snowflake-xgb' > /tmp/constraints.txt; \
    pip install -c /tmp/constraints.txt $STANDINS_PACKAGES; \
    rm -rf /tmp/certs /tmp/constraints.txt /root/.cache; \
    fakesnow --help >/dev/null; command -v moto_server
COPY local_test/seed_standins.py /opt/standins/seed_standins.py
# The compose files pick the command per service; this default serves fakesnow.
CMD ["fakesnow", "-s", "--host", "0.0.0.0", "-p", "8080"]
