#!/bin/sh
# One image, three callers:
#   SageMaker hosting runs `docker run IMAGE serve`   -> the inference server on :8080
#   a Kubernetes pod runs it with `serve` or nothing  -> the same server (CMD is `serve`)
#   the pod's init container runs `fetch-model`       -> unpack MODEL_S3_URI into SM_MODEL_DIR
# Anything else runs as a command (debugging). `exec` replaces this shell, so the SIGTERM that tini (PID 1)
# forwards reaches the server itself.
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)

if [ "$#" -eq 0 ]; then
    set -- serve
fi

case "$1" in
    serve)
        shift
        exec serve "$@"
        ;;
    fetch-model)
        shift
        exec python "$here/fetch_model.py" "$@"
        ;;
    train)
        echo "entrypoint: this image serves models; SageMaker training uses the training image" >&2
        exit 64
        ;;
    *)
        exec "$@"
        ;;
esac
