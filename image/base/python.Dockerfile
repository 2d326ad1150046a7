# Local stand-in for python:3.11-slim, built by tests/cluster/images on top of the
# bookworm stand-in (bookworm.Dockerfile): Debian's python3 (3.11), nothing else.
# Like the official image it keeps the default user (root) for building on top of it;
# nothing in it needs root at run time (the stdlib's bytecode is compiled at install,
# so a read-only root filesystem and any UID work).
ARG BOOKWORM=localhost/coderun/bookworm:12
FROM ${BOOKWORM}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python-is-python3 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'
ENV LANG=C.UTF-8
CMD ["python3"]
