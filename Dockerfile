# Aijia in a container: Debian's Chromium, the project installed from its wheel, an
# unprivileged user, data on a volume. `aijia serve` (review console + commit worker) by default.
#
#   docker build -t aijia .
#   docker run -p 8750:8750 -v aijia-data:/data -v aijia-keys:/config \
#              -v "$PWD/my-project:/project:ro" --env-file aijia.env aijia
#   docker run … aijia aijia schedule run          # the scheduler daemon instead
#
# deploy/README.md says what each volume and variable is for.

# ---------------------------------------------------------------- build the wheel
FROM python:3.12-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md cli.py ./
COPY agent ./agent
COPY evidence ./evidence
COPY sandbox ./sandbox
# agent/sandbox_recipes is a link to recipes/: the wheel carries the shipped recipes through it
COPY recipes ./recipes
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---------------------------------------------------------------- the image
FROM python:3.12-slim-bookworm

# Debian's Chromium (Playwright drives it; no browser download at run time), fonts for
# readable screenshots, tini to reap Chromium's children.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      chromium fonts-liberation fonts-noto-cjk tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*

COPY --from=build /wheels /wheels
# the scale extra (temporalio, psycopg, boto3): the same image runs the embedded default and
# the workers of docker-compose.yml (Temporal + PostgreSQL + S3)
RUN pip install --no-cache-dir "$(ls /wheels/*.whl)[scale]" && rm -rf /wheels

# An unprivileged user owns the data and the keys; nothing runs as root.
RUN useradd --system --uid 10001 --create-home --home-dir /home/aijia --shell /usr/sbin/nologin aijia \
 && mkdir -p /data /config /project \
 && chown aijia:aijia /data /config /project \
 && chmod 0700 /data /config

# Runs and evidence under the /data volume ($AIJIA_DATA_DIR wins over the config's data_dir);
# the signing key and console key in /config ($XDG_CONFIG_HOME/aijia), never inside /data:
# the store must not hold the key that vouches for it.
ENV AIJIA_DATA_DIR=/data \
    XDG_CONFIG_HOME=/config \
    AIJIA_BROWSER=/usr/bin/chromium \
    PYTHONUNBUFFERED=1

USER aijia
WORKDIR /project
# A sample project (the sandbox's ShopLane) so the image starts as built; mount your team's
# project (config.yaml + recipes/) over /project.
RUN aijia init /project

VOLUME ["/data", "/config"]
EXPOSE 8750

# The console answers its sign-in page without a session.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8750/signin', timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["aijia", "serve", "--host", "0.0.0.0", "--port", "8750"]
