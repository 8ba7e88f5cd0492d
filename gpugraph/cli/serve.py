"""``gpugraph serve``: TF Serving's REST API for the newest version under a model base path."""

import logging
import os

from gpugraph.cli._common import CliError, EXIT_OK, _phase, _restoring


# -- serve ----------------------------------------------------------------------------------------
def cmd_serve(args):
    from gpugraph.serving import server
    from gpugraph.serving.batching import BatchingOptions
    from gpugraph.serving.model import ModelLoadError, ServedModel
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    batching = None
    if args.enable_batching:
        if args.batching_parameters_file:
            try:
                with open(args.batching_parameters_file) as f:
                    batching = BatchingOptions.from_text(f.read())
            except (OSError, ValueError) as e:
                raise CliError(f"--batching_parameters_file {args.batching_parameters_file}: {e}") from None
        else:
            batching = BatchingOptions()
    if args.model_base_path is None:
        if not os.environ.get("MODEL_BASE_PATH"):
            raise CliError("--model_base_path is required (or set MODEL_BASE_PATH: the model is then "
                           "$MODEL_BASE_PATH/<model_name>)")
        args.model_base_path = os.path.join(os.environ["MODEL_BASE_PATH"], args.model_name)
    if args.max_request_bytes < 1:
        raise CliError(f"--max_request_bytes must be positive, got {args.max_request_bytes}")
    model = ServedModel(args.model_name, args.model_base_path, tags=args.saved_model_tags.split(","),
                        poll_seconds=args.file_system_poll_wait_seconds,
                        on_load=server.attach_batchers(batching))
    try:
        versions = model._versions_or_error()
        _phase(args, f"loading model {args.model_name} version {versions[-1]} from {model.base_path}")
        with _restoring(args, os.path.join(model.base_path, str(versions[-1]), "variables", "variables")):
            servable = model.load_initial()
    except ModelLoadError as e:
        raise CliError(str(e)) from None
    options = server.ServerOptions(host=args.rest_api_host, port=args.rest_api_port,
                                   max_request_bytes=args.max_request_bytes, num_threads=args.rest_api_num_threads,
                                   uvicorn_log_level="info" if args.verbose else "warning")
    try:
        sock = server.bind(options.host, options.port)
    except OSError as e:
        raise CliError(str(e)) from None
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"gpugraph serve: model '{model.name}' version {servable.version} AVAILABLE "
          f"(signatures: {', '.join(sorted(servable.signatures))}); REST API on http://{shown}:{port}"
          + (f"; batching up to {batching.max_batch_size} rows" if batching else ""), flush=True)
    model.start_polling()
    app = server.create_app(model, options)
    server.run(app, sock, options)
    return EXIT_OK


