# gapcast image: the `gapcast` command (API under gunicorn, scheduler, loaders) with the bundled snapshot.
#
# Two stages. `build` turns gapcast and every dependency into wheels (compilers live only there, for a
# dependency without a wheel for this platform). The runtime stage installs those wheels with
# --no-index: nothing is fetched after the build, and nothing at run time downloads anything (the
# snapshot, the domains and prophet's compiled model ship inside the wheels).
#
# One image, several roles (docker-compose.yml): `gapcast up` by default (embedded Redis, for a quick
# `docker run -p 8000:8000 gapcast:0.1.0`), the API under gunicorn, `gapcast scheduler`, `gapcast load`.
# No HEALTHCHECK here: what "healthy" means depends on the role, so docker-compose.yml sets one per service.
# Build with BuildKit (the default of `docker build` and `docker compose build`): RUN --mount needs it.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Build stage only: whatever compiler Debian ships is fine.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY forecasts ./forecasts
COPY service ./service
COPY jobs ./jobs
COPY gapcast ./gapcast
# Every dependency at the version constraints.txt pins (uv pip compile: see the README), so two builds of
# the same commit install the same packages.
RUN pip wheel --wheel-dir /wheels --constraint constraints.txt .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The wheels are bind-mounted from the build stage, so they never become a layer of this image.
# gapcast from the local wheels, with its dependencies at the versions constraints.txt pins.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels gapcast \
 && gapcast --help >/dev/null
# A fixed numeric uid (orchestrators can check it is not root), its home for `gapcast up`'s embedded
# Redis data, and the folder the API's gunicorn workers share their Prometheus metrics in
# (PROMETHEUS_MULTIPROC_DIR; docker-compose.yml mounts an empty tmpfs over it at each start).
RUN groupadd --gid 10001 gapcast \
 && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin gapcast \
 && install -d -o 10001 -g 10001 /tmp/gapcast-metrics
USER 10001:10001
WORKDIR /home/gapcast
EXPOSE 8000
ENTRYPOINT ["gapcast"]
CMD ["up", "--host", "0.0.0.0"]
