# The api image: the platform without torch (pyproject.toml's base dependencies). It runs the REST API with
# the dashboard (`python -m backend api`) and the one-shot migration (`python -m backend migrate`).
# Built by docker-compose.yml; by hand: docker build -f docker/api.Dockerfile -t shakelab/api:local .
FROM python:3.12-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, from pyproject.toml alone: a code change then rebuilds only the layers below.
COPY pyproject.toml ./
COPY docker/requirements.py docker/
RUN python docker/requirements.py > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code (what .dockerignore lets through). Editable, because the app finds migrations/ and frontend/
# beside its packages, not inside them.
COPY . .
RUN pip install --no-deps -e .

RUN useradd --uid 1000 --create-home shakelab \
    && mkdir -p /var/lib/shakelab/runs \
    && chown -R shakelab /var/lib/shakelab
USER shakelab

ENV SHAKELAB_HOME=/var/lib/shakelab SHAKELAB_HOST=0.0.0.0 SHAKELAB_PORT=8000
EXPOSE 8000
# The healthcheck (docker/healthcheck.py) is in docker-compose.yml: the migrate step shares this image.
CMD ["python", "-m", "backend", "api"]
