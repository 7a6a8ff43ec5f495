#!/usr/bin/env bash
# The whole recipe of the two bundled models, from nothing, on the CPU (docs/training.md):
#   data      iris data shapes: pictures of shapes with questions, and a text-only corpus
#   init      tools/tiny/tiny.py: the tokenizer and seeded random LLaVA and Mllama folders (transformers)
#   text      a small Llama pre-trained on the text corpus (inside the LLaVA folder; projector frozen)
#   vision    each family's vision encoder pre-trained on predicting the pictures' attributes: a
#             captioner (encoder, projector and a fresh decoder) learns detailed captions and the
#             training questions' one-word answers; only the encoder is kept
#   compose   LLaVA = CLIP encoder + fresh projector + the Llama; Mllama = its encoder + fresh projector
#             + the Llama's layers with fresh cross-attention layers between them (gates 0)
#   stage 1   LLaVA: the projector; Mllama: the projector and the cross-attention layers
#   stage 2   also the language model
#   eval      accuracy per question kind on both held-out splits, caption recall, text perplexity,
#             image tokens and prefill time, after each stage (runs/tiny/results/*.json)
#   ship      the stage-2 models in bf16 to models/tiny-llava and models/tiny-mllama
# Every step is skipped when its output is complete and resumed when it was cut short, so a rerun
# after an interruption continues. Fixed seeds: a rerun gives the same weights.
# Usage: scripts/train-tiny.sh [RUN_DIR]  (default runs/tiny; about an hour on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
R="${1:-runs/tiny}"
mkdir -p "$R/results"
venv="${IRIS_FIXTURE_VENV:-$HOME/.cache/iris/fixtures-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import transformers" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r tools/fixtures/requirements.txt
fi
py="$venv/bin/python"
cargo build --release -q -p iris-cli
iris=target/release/iris
D="$R/data"

[ -f "$D/text-heldout.jsonl" ] || $iris data shapes --out "$D" --n 8000 --heldout 200 --text 20000 --seed 0
[ -f "$R/mllama-init/model.safetensors" ] || "$py" tools/tiny/tiny.py init "$R"

# train NAME STEPS ARGS...: one `iris train` run into $R/NAME, skipped when done, resumed when cut short.
train() {
    local name=$1 steps=$2
    shift 2
    local out="$R/$name" resume=()
    if [ -f "$out/train_state.json" ]; then
        local done
        done=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['step'])" "$out/train_state.json")
        [ "$done" -ge "$steps" ] && return 0
        resume=(--resume "$out")
    fi
    echo "== $name ($steps steps)"
    $iris train --steps "$steps" --out "$out" --save-every 250 --seed 0 --weight-decay 0.01 "${resume[@]}" "$@"
}

train text 1500 --model "$R/llava-init" --data "$D/text.jsonl" --stage 2 --freeze 'multi_modal_projector.*' \
    --batch-size 32 --lr 3e-3 --warmup 50
[ -f "$D/vision.jsonl" ] || cat "$D/pretrain.jsonl" "$D/train.jsonl" > "$D/vision.jsonl"
train clip-captioner 3000 --model "$R/llava-init" --data "$D/vision.jsonl" --stage 2 --train 'vision_tower.*' \
    --batch-size 16 --lr 2e-3 --warmup 100
train mllama-captioner 3000 --model "$R/mllama-init" --data "$D/vision.jsonl" --stage 2 \
    --train 'vision_model.*' --batch-size 16 --lr 2e-3 --warmup 100
[ -f "$R/llava-base/model.safetensors" ] || "$py" tools/tiny/tiny.py llava "$R/text" "$R/clip-captioner" "$R/llava-base"
[ -f "$R/mllama-base/model.safetensors" ] || "$py" tools/tiny/tiny.py mllama "$R/text" "$R/mllama-captioner" "$R/mllama-base"

for m in llava mllama; do
    train $m-stage1 1500 --model "$R/$m-base" --data "$D/train.jsonl" --stage 1 --batch-size 16 --lr 2e-3 --warmup 50
    train $m-stage2 1500 --model "$R/$m-stage1" --data "$D/train.jsonl" --stage 2 --batch-size 16 --lr 5e-4 \
        --warmup 50
done

# eval NAME: the checkpoint $R/NAME on both held-out splits and the held-out text.
evaluate() {
    local name=$1
    for split in heldout heldout-shift text-heldout; do
        local f="$R/results/$name.$split.json"
        [ -f "$f" ] || $iris eval --model "$R/$name" --data "$D/$split.jsonl" --json "$f" > /dev/null
    done
}
for name in text llava-base mllama-base llava-stage1 llava-stage2 mllama-stage1 mllama-stage2; do
    case $name in
        text|*-base) f="$R/results/$name.text-heldout.json"
            [ -f "$f" ] || $iris eval --model "$R/$name" --data "$D/text-heldout.jsonl" --json "$f" > /dev/null ;;
        *) evaluate $name ;;
    esac
done

mkdir -p docs/training
$iris plot --out docs/training/pretraining.png --title "pre-training: the Llama on text, the encoders by captioning" \
    "Llama (text)=$R/text" "CLIP captioner=$R/clip-captioner" "Mllama captioner=$R/mllama-captioner"
$iris plot --out docs/training/llava.png --title "Method A (LLaVA)" "stage 1=$R/llava-stage1" "stage 2=$R/llava-stage2"
$iris plot --out docs/training/mllama.png --title "Method B (Mllama)" "stage 1=$R/mllama-stage1" \
    "stage 2=$R/mllama-stage2"
python3 tools/tiny/report.py "$R" docs/training.md

for m in llava mllama; do
    "$py" tools/tiny/tiny.py half "$R/$m-stage2" "models/tiny-$m"
done
echo "done: models/tiny-llava, models/tiny-mllama; results in $R/results"
