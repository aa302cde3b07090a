# The engine answering calls for the flows mounted at /flows (docs/operations.md#docker).
#
# The base image is pinned to one Python release on one Debian release, so a rebuild gets
# the same interpreter. To update it: pick the newest `3.11.N-slim-bookworm` tag listed on
# https://hub.docker.com/_/python (or a newer minor version at least pyproject.toml's
# requires-python), change the line below, rebuild, and run the tests; update the tag in
# docs/operations.md too.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 engine
WORKDIR /app

# Dependencies in a layer of their own, from pyproject.toml alone: a change to the code
# rebuilds only the layers below, and does not download or reinstall any dependency. The
# list is pyproject's own (the build backend, then [project].dependencies), so it cannot
# drift from it.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(p['build-system']['requires'] + p['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The engine itself: nothing left to download (--no-deps, and the build backend is already
# installed).
COPY README.md ./
COPY engine ./engine
RUN pip install --no-cache-dir --no-deps --no-build-isolation .

# The example flows are shipped beside the engine, not in /flows: they include a "*"
# catch-all that would answer every number, so an image started without its flows volume
# must not answer real calls with them. /flows does not exist in the image: run without a
# volume there, `engine serve /flows` has nothing to load and answers no call. To try the
# examples on purpose: `docker run … engine engine serve /usr/share/engine/examples …`.
COPY flows /usr/share/engine/examples
# The JSON Schema the flows' `# yaml-language-server: $schema=../schemas/…` lines point at.
COPY schemas /schemas

# Call records: a SQLite file in the working directory (./engine-records.db) unless
# ENGINE_DATABASE_URL names a database; mount a volume here to keep them when the container
# is replaced (docs/records.md).
RUN mkdir -p /var/lib/engine && chown engine:engine /var/lib/engine
WORKDIR /var/lib/engine

USER engine
EXPOSE 8000
# Readiness, not liveness: healthy means this container can answer a call now (flows
# loaded, not draining, OpenAI's call control reachable), which is what a proxy or an
# orchestrator that routes by Docker's health status needs to know. /healthz (the process
# answers) is for a liveness probe: Kubernetes ignores HEALTHCHECK; use its own probes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"
# JSON logs, one line per event with the call id. SIGTERM drains live calls for up to
# ENGINE_DRAIN_TIMEOUT (30 s) before exiting; `docker stop` kills after 10 s unless told
# otherwise: run with `--stop-timeout 35` (compose: `stop_grace_period: 35s`).
STOPSIGNAL SIGTERM
CMD ["engine", "serve", "/flows", "--host", "0.0.0.0", "--port", "8000", "--log-format", "json"]
