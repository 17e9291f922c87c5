"""The NASNet architecture search on the platform (docs/nas.md): its requests and answers, and its store.
Torch-free: the controller itself runs in the controller process (`python -m worker.nas`)."""
