# LLM Engineering Lab - one image for a Hugging Face Space (Docker SDK, app_port 8501) or `docker run`.
# It installs through the same scripts/setup.sh and requirement files as `make run`, so the two cannot drift.
FROM python:3.11-slim

# build tools: llama-cpp-python compiles llama.cpp from source (portable: -DGGML_NATIVE=OFF)
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git curl \
    && rm -rf /var/lib/apt/lists/*

# Spaces run the container as uid 1000
RUN useradd -m -u 1000 user
USER user
ENV HOME=/home/user PATH=/home/user/app/.venv/bin:$PATH \
    LAB_DATA_DIR=/home/user/.cache/llm-engineering-lab PYTHONUNBUFFERED=1 \
    OMP_WAIT_POLICY=PASSIVE
WORKDIR /home/user/app

# Dependencies first (cached layer), then the code. torch comes from the CPU index: the constraints file pins it.
COPY --chown=user requirements*.txt constraints.txt ./
COPY --chown=user scripts/setup.sh scripts/setup.sh
ENV PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN mkdir -p lab && printf 'raise SystemExit(0)\n' > lab/__main__.py && touch lab/__init__.py \
    && LAB_BUILD_SERVER=0 scripts/setup.sh && rm -rf lab

COPY --chown=user . .
# derived offline assets (tiktoken cache, SmolLM2 in transformers format) baked into the image
RUN .venv/bin/python -m lab assets --prepare
# llama.cpp's llama-server for the classroom (continuous batching; README "Bigger classes"), built in the foreground
# here (5-7 min on 2 cores) so the image has it; if the build fails the image still works on the in-process path.
RUN .venv/bin/python -m lab gguf build-server \
    || echo "!! llama-server could not be built: the app will use the in-process engine"

EXPOSE 8501
HEALTHCHECK CMD curl --fail http://localhost:8501/_stcore/health || exit 1
CMD ["streamlit", "run", "Home.py", "--server.port=8501", "--server.address=0.0.0.0"]
