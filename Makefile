# featvslearn: one command per lesson. `make compare` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVICE ?= auto
DEVICES ?= cpu,cuda
DATA_DIR ?= ../fashion-mnist
OUT ?= gpu-check
RESULTS := results
FVL := $(BIN)/featvslearn

.PHONY: install compare test lint clean demo fashion classical mnist cifar10 compute scaling scaling-short ablate report datasets gpu-check

install: $(STAMP)

# Reinstall only when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

compare: $(STAMP)  ## the main job on the offline default (digits)
	$(FVL) compare --device $(DEVICE)

test: $(STAMP)  ## the whole test suite; pytest's "no tests" (exit 5) fails
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check featvslearn tests benchmarks examples

datasets: $(STAMP)  ## which datasets are available offline here
	$(FVL) datasets

demo: $(STAMP)  ## lesson 1, a minute: digits, report and JSON in results/
	mkdir -p $(RESULTS)
	$(FVL) compare --dataset digits --device $(DEVICE) --report $(RESULTS)/digits.md --json $(RESULTS)/digits.json

fashion: $(STAMP)  ## lesson 2, about 5 minutes on a laptop CPU: full Fashion-MNIST
	mkdir -p $(RESULTS)
	$(FVL) compare --dataset fashion-mnist --device $(DEVICE) --report $(RESULTS)/fashion.md --json $(RESULTS)/fashion.json

classical: $(STAMP)  ## the hand-engineered side: hog-svm and sift-svm on full Fashion-MNIST, every stage timed
	mkdir -p $(RESULTS)
	$(FVL) compare --dataset fashion-mnist --device $(DEVICE) --pipelines hog-svm,sift-svm --report $(RESULTS)/classical.md --json $(RESULTS)/classical.json

mnist: $(STAMP)
	mkdir -p $(RESULTS)
	$(FVL) compare --dataset mnist --device $(DEVICE) --report $(RESULTS)/mnist.md --json $(RESULTS)/mnist.json

cifar10: $(STAMP)  ## colour images: best on a GPU, e.g. make cifar10 DEVICE=cuda
	mkdir -p $(RESULTS)
	$(FVL) compare --dataset cifar10 --device $(DEVICE) --report $(RESULTS)/cifar10.md --json $(RESULTS)/cifar10.json

compute: $(STAMP)  ## the compute factor: every pipeline on the CPU, then on the GPU, with speed-ups (needs CUDA)
	mkdir -p $(RESULTS)
	@case "$(DEVICES)" in *cuda*) $(BIN)/python -c "import sys, torch; sys.exit(not torch.cuda.is_available())" || \
		echo "make compute: no CUDA GPU here, so --device $(DEVICES) is refused (DEVICES=cpu,cpu runs on the CPU alone)";; esac
	$(FVL) compare --dataset fashion-mnist --device $(DEVICES) --report $(RESULTS)/compute.md --json $(RESULTS)/compute.json

scaling: $(STAMP)  ## the data factor, long on a CPU: accuracy against training-set size on Fashion-MNIST, and the crossover
	mkdir -p $(RESULTS)
	$(FVL) scaling --dataset fashion-mnist --device $(DEVICE) --report $(RESULTS)/scaling.md --json $(RESULTS)/scaling.json

scaling-short: $(STAMP)  ## the data factor in workshop time: three sizes, one seed, 2,000 test images
	mkdir -p $(RESULTS)
	$(FVL) scaling --dataset fashion-mnist --device $(DEVICE) --sizes 100,1000,10000 --seeds 1 --test-size 2000 --report $(RESULTS)/scaling-short.md --json $(RESULTS)/scaling-short.json

ablate: $(STAMP)  ## the algorithms factor: CNN variants (activations, batch norm, dropout, depth) for the same budget; sized for <= 10 minutes on a 2-core CPU
	mkdir -p $(RESULTS)
	$(FVL) ablate --dataset fashion-mnist --device $(DEVICE) --report $(RESULTS)/ablate.md --json $(RESULTS)/ablate.json

gpu-check:  ## every GPU figure against its target, from the source tree (no install), <= 8 minutes on one H100: $(OUT)/gpu_check.json and .log
	PYTHONPATH=. $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) benchmarks/gpu_check.py --data-dir $(DATA_DIR) --out $(OUT)

report: $(STAMP)  ## re-render every saved results/*.json as Markdown, without training
	@for f in $(RESULTS)/*.json; do \
		[ -e "$$f" ] || { echo "no results in $(RESULTS)/; run make demo first"; exit 2; }; \
		$(FVL) report "$$f" --out "$${f%.json}.md"; \
	done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
