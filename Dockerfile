# gpugraph serving image: TF Serving's REST API (port 8501) for TF1 SavedModels, on CUDA 13 with CuPy.
#
#   docker build -t gpugraph-serve .
#   docker run --gpus all -p 8501:8501 -v /path/to/mlp:/models/mlp -e MODEL_NAME=mlp gpugraph-serve
#
# /models/$MODEL_NAME holds numeric version directories (1/, 2/, ...) with a SavedModel each; the highest
# is served and newer ones are picked up while running. Extra arguments go to `gpugraph serve`
# (e.g. --enable_batching). Without a GPU (no --gpus), every op runs on the CPU.
FROM nvidia/cuda:13.0.1-runtime-ubuntu24.04

ARG DEBIAN_FRONTEND=noninteractive
# Distribution packages follow the base image's Ubuntu release; pinning their exact versions would
# break the build whenever Ubuntu publishes a security update, so they are deliberately unpinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/gpugraph/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
ENV PATH="${VIRTUAL_ENV}/bin:${PATH}"

WORKDIR /opt/gpugraph/src
COPY pyproject.toml README.md ./
COPY gpugraph ./gpugraph
COPY kernels /opt/gpugraph/kernels
# gpugraph with CuPy for CUDA 13 and the REST server (starlette, uvicorn); versions come from pyproject.toml.
RUN python3 -m venv "${VIRTUAL_ENV}" \
    && pip install --no-cache-dir "./[cuda13,serve]" \
    && gpugraph --help > /dev/null

RUN useradd --system --no-log-init --create-home --uid 10001 gpugraph
USER 10001
WORKDIR /home/gpugraph

# As in TF Serving's image: the model is /models/${MODEL_NAME}.
ENV MODEL_NAME=model \
    MODEL_BASE_PATH=/models \
    GPUGRAPH_KERNEL_DIR=/opt/gpugraph/kernels \
    GPUGRAPH_KERNEL_CACHE=/home/gpugraph/.cache/gpugraph/kernels

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["/bin/sh", "-c", "curl -fsS \"http://127.0.0.1:8501/v1/models/${MODEL_NAME}\" > /dev/null || exit 1"]

ENTRYPOINT ["gpugraph", "serve"]
CMD ["--rest_api_host=0.0.0.0", "--rest_api_port=8501"]
