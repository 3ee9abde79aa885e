# ai-news-bot in a slim image: non-root, the database in a volume, a health check.
#   docker build -t ai-news-bot .
#   docker compose up -d          (see compose.yaml and the README's "Deploying" section)
FROM python:3.11-slim

# git: only for [posts] pull = "git" (the posts folder is a clone of the blog).
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /data --shell /usr/sbin/nologin bot

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
# With the PostgreSQL extra: the same image runs alone on SQLite or as one of several instances.
RUN pip install --no-cache-dir '.[postgres]' && rm -rf /root/.cache

USER bot
VOLUME ["/data"]
ENV PYTHONUNBUFFERED=1 \
    AI_NEWS_BOT_CONFIG=/config/config.toml

# The bot answers GET /healthz on [health] listen:port (config.toml must enable it, e.g.
# listen = "127.0.0.1", port = 8081): 200 while it receives updates, can write its database and
# today's post did not fail; 503 otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/healthz', timeout=4); sys.exit(0)"]

ENTRYPOINT ["ai-news-bot"]
CMD ["run"]
