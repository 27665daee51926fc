"""cot-specialize: specialize T5 / FlanT5 students toward multi-step reasoning with distilled CoT."""

from setuptools import find_packages, setup

setup(
    name="cot-specialize",
    version="0.1.0",
    description="Distil chain-of-thought into T5/FlanT5 students on a T5X-compatible JAX engine.",
    python_requires=">=3.11",
    packages=find_packages(include=["distill", "distill.*", "tasks", "tasks.*"]),
    py_modules=["train_t5x"],
    package_data={"distill.data": ["known_files.tsv"]},
    install_requires=[
        "jax>=0.10.2,<0.13",
        "flax>=0.12.8,<0.13",
        "optax>=0.2.5",
        "orbax-checkpoint>=0.12,<0.13",
        "tensorstore>=0.1.70",
        "gin-config>=0.5.0",
        "absl-py",
        "numpy",
        "msgpack",
        "tensorboardX",
        "tensorboard",  # seqio.TensorBoardLogger (tf.summary) needs it for evaluation scalars
        "seqio>=0.0.19",
        "tensorflow-datasets",
        "sentencepiece",
        "aiohttp",  # distill.generate: the asyncio client for teacher endpoints
        "orjson",  # distill.generate: parses responses ~2x faster than json (chat logprobs are large)
        "tiktoken",  # distill.build: re-tokenizing teacher text with a named BPE (p50k_base, ...)
        "matplotlib",  # distill.report: plots
    ],
    extras_require={
        # openai: the official client tests the server; pytest-xdist: `make test` runs two workers.
        "dev": ["pytest>=8", "pytest-xdist>=3.5", "ruff>=0.6", "openai", "hypothesis"],
        # The Hugging Face side (benchmark peer, checkpoint conversion). torch 2.13.0 is the CPU
        # build pip finds on these machines; an unpinned torch resolves to a multi-GB CUDA build.
        "hf": ["torch==2.13.0", "transformers>=4.40", "safetensors"],
    },
)
