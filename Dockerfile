# The engine answering calls for the flows mounted (or copied) at /flows.
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 engine
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
RUN pip install --no-cache-dir .
COPY schemas /schemas
COPY flows /flows

USER engine
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
# JSON logs, one line per event with the call id; SIGTERM drains live calls first.
STOPSIGNAL SIGTERM
CMD ["engine", "serve", "/flows", "--host", "0.0.0.0", "--port", "8000", "--log-format", "json"]
