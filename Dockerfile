# gapcast image: the CLI, the bundled snapshot and its dependencies.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY forecasts ./forecasts
COPY service ./service
COPY jobs ./jobs
RUN pip install . && useradd --create-home gapcast && install -d -o gapcast /tmp/gapcast-metrics
USER gapcast
ENTRYPOINT ["gapcast"]
CMD ["up"]
