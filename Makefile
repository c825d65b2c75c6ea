# make demo : create .venv, index the bundled sample dataset, check the demo photo, write the report
# make test : create .venv, run the whole test suite (uses ../shared/data/lfw when present)
# make workshop : serve notebook 01 as an app on 127.0.0.1 for a workshop
# make docs : run the notebooks on the sample data into docs/notebooks/ (figures as PNG), redraw BENCHMARKS.md's summary
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUILD := build

.PHONY: demo test test-full workshop docs clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "make: $(PY) not found; install Python 3.11 or run: make PY=python3 ..."; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,notebooks,scale]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/exposure index sample_data/dataset --out $(BUILD)/demo/index --name sample_faces --workers 1
	$(BIN)/exposure check sample_data/photos/my_photo.jpg --index $(BUILD)/demo/index --report $(BUILD)/demo/report.html

test: $(STAMP)
	$(BIN)/ruff check exposure tests bench tools
	$(BIN)/python -m pytest -q

# also ONNX against dlib over all of LFW (~12 more minutes on 2 cores: dlib is slow)
test-full: $(STAMP)
	EXPOSURE_FULL_LFW=1 $(BIN)/python -m pytest -q

workshop: $(STAMP)
	$(BIN)/exposure workshop

docs: $(STAMP)
	$(BIN)/python tools/render_docs.py
	$(BIN)/python tools/render_docs.py --lang zh notebooks/01_check_my_exposure.ipynb notebooks/05_what_you_can_do.ipynb
	$(BIN)/python bench/summary.py

clean:
	rm -rf $(BUILD) $(VENV)
