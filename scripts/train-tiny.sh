#!/usr/bin/env bash
# The whole recipe of the two bundled models, from nothing, on the CPU (docs/training.md):
#   data      iris data shapes: pictures of shapes with questions, and a text-only corpus
#   init      tools/tiny/tiny.py: the tokenizer and seeded random LLaVA and Mllama folders (transformers)
#   text      a small Llama pre-trained on the text corpus (inside the LLaVA folder; projector frozen)
#   vision    each family's vision encoder pre-trained on what each patch of the pictures shows (a
#             shape in a colour and the quadrant, or the background) through a linear head on every patch token
#             (`iris train --probe`); only the encoder is kept
#   compose   LLaVA = CLIP encoder + fresh projector + the Llama; Mllama = its encoder + fresh projector
#             + the Llama's layers with fresh cross-attention layers between them (gates 0)
#   stage 1   LLaVA: the projector; Mllama: the projector and the cross-attention layers
#   stage 2   also the language model
#   eval      accuracy per question kind on both held-out splits, caption recall, text perplexity,
#             image tokens and prefill time, after each stage (runs/tiny/results/*.json)
#   ship      the stage-2 models in bf16 to models/tiny-llava and models/tiny-mllama
# The two families train side by side, one thread each (their logs: RUN_DIR/llava.log, mllama.log);
# Mllama's encoder pre-trains while the Llama does, and each family's stages follow its own encoder.
# On 2 cores that takes about two hours (Xeon, 2026-12-01; Mllama's lane is the longer), and as long on an
# AMD EPYC with AVX2 only since the GELU backward and the picture cache (runs/tiny12, 2026-12-06: Mllama's
# encoder 58 min, its stage 2 52 min, the whole run 1 h 56 min; three hours before; its stage 2 has 4000 steps
# instead of 3000 since runs/tiny15, a third longer);
# IRIS_TINY_LANES=1 runs one family at a time on every core instead. Every step is skipped when its
# output is complete and resumed when it was cut short, so a rerun after an interruption continues.
# Fixed seeds: a rerun gives the same weights.
# Usage: scripts/train-tiny.sh [RUN_DIR]  (default runs/tiny; hours on 2 cores: run it in the background)
#        IRIS_TINY_WIDE_ENCODERS=llava,mllama scripts/train-tiny.sh RUN_DIR: the encoder study below (results only)
set -euo pipefail
cd "$(dirname "$0")/.."
R="${1:-runs/tiny}"
# The families whose encoders pre-train on the wide pictures (the encoder study below; none by default).
wide="${IRIS_TINY_WIDE_ENCODERS:-}"
for family in ${wide//,/ }; do
    case $family in
        llava|mllama) ;;
        *) echo "IRIS_TINY_WIDE_ENCODERS: '$family' is not a family (llava, mllama)" >&2; exit 2 ;;
    esac
done
mkdir -p "$R/results"
venv="${IRIS_FIXTURE_VENV:-$HOME/.cache/iris/fixtures-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import transformers" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r tools/fixtures/requirements.txt
fi
py="$venv/bin/python"
# IRIS_BIN: an iris binary already built from this tree (else the release build).
iris="${IRIS_BIN:-target/release/iris}"
[ -n "${IRIS_BIN:-}" ] || cargo build --release -q -p iris-cli
D="$R/data"

# A tenth of the training pictures from the shifted ranges. With 30 % (runs/tiny9, 2026-12-01) LLaVA's stage 2
# never learned which colour goes with which shape (loss flat at 0.31 from step 2000; colour 56.5 %, shape
# 24.5 %, captions 6 % held out) and Mllama answered "yes" to most absent shapes (exists 47 %), though its
# colours on the shifted split rose from 94.5 to 98.5 % and its captions from 65.5 to 74 %.
# Two more tries at the shifted split, neither shipped. Pictures of 96 px in 24-px patches (runs/tiny10) helped
# LLaVA's shifted shapes (74.5 → 84 %) and captions (56.5 → 63 %), but LLaVA's exists answers fell to chance
# (56.5 %) and Mllama's shapes to 63 %. The encoders pre-trained on pictures of their own, three tenths shifted
# (runs/tiny11, 2026-12-06, decoders' data unchanged): LLaVA's stage 2 plateaued at loss 0.35 as tiny9's had,
# colour 58 %, shape 23 %, captions 8.5 % held out; so what broke tiny9 was the encoder's data, not the decoder's.
# Exists answers that look the shape up first ("the square is blue, so no"; runs/tiny12, 2026-12-06): LLaVA's
# exists 100 %, captions 94.5 %, but colour 78.5 %; Mllama named the right colour, then said "yes" (exists 68 %,
# shape 79 %). Not shipped (docs/training.md).
# One more exists (and caption) question a picture (--extra; runs/tiny13, tiny14, 2026-12-06): Mllama's exists
# reached 97.5 % with both and 4000 steps, but LLaVA never bound colours to shapes in either. Not shipped.
# Each family its own mix (runs/tiny15, 2026-12-06): Mllama's stages train on train-extra.jsonl (one more colour,
# exists, where and caption question a picture; stage 2 4000 steps) and reached 95 % or more on every kind held
# out (exists 99.5 %); LLaVA's on train.jsonl, the mix under which its stage 2 learned which colour goes with which
# shape at d549f7d (the shipped tiny8). With today's binary that lane bound them one way only (colour 60.5 %,
# captions 94.5 %), so tiny15 is not shipped either (docs/training.md).
# Another seed bound the same one way (colour 61 %); carried on to 5000 steps it reached colour 74 %, exists 69.5 %:
# LLaVA's lookup comes slowly with today's binary, and iris's gradients equal transformers' (tools/tiny/gradcheck.py).
# At twice the rate (2e-3) LLaVA's stage 2 bound both ways by step 2000 (runs/tiny18, 2026-12-06, shipped): held out
# every kind at 95 % or more but captions (92.5 %); its text perplexity 380 (81.5 at 1e-3, tiny8).
[ -f "$D/train-extra.jsonl" ] || $iris data shapes --out "$D" --n 48000 --heldout 200 --text 20000 --shifted 0.1 --seed 0 \
    --extra color,exists,where,describe
# The encoders pre-train on pretrain.jsonl's labels of the training pictures for 8000 steps. IRIS_TINY_WIDE_ENCODERS
# (a list of families: llava, mllama) pre-trains theirs on pictures of their own instead, twice as many and half of
# them shifted, for 12 000 steps (runs/tiny19, 2026-12-07, both; docs/training.md): the CLIP encoder then reads
# the centre cell of a small shifted shape in 92.8 % of fresh pictures (75.6 %) and the usual pictures' shape
# cells at 97.1 % (95.4 %), but with it LLaVA's stage 2 did not learn which colour goes with which shape (colour
# 59 %, shape 19 % held out), while Mllama's shifted shapes rose from 83.5 to 97 % but its exists answers fell
# to 78 % (a "yes" to absent ones). Such a run ships nothing.
if [ -n "$wide" ] && [ ! -f "$R/enc-data/pretrain.jsonl" ]; then
    $iris data shapes --out "$R/enc-data" --n 96000 --heldout 200 --text 200 --shifted 0.5 --seed 11
fi
# encoder FAMILY: the data and steps, a line each, of FAMILY's encoder pre-training. Its picture cache holds
# 96 000 pictures (5500 MiB; the numbers are the same with any cache).
encoder() {
    case ",$wide," in
        *",$1,"*) printf '%s\n' "$R/enc-data/pretrain.jsonl" 12000 ;;
        *) printf '%s\n' "$D/pretrain.jsonl" 8000 ;;
    esac
}
[ -f "$R/mllama-init/model.safetensors" ] || "$py" tools/tiny/tiny.py init "$R"

lanes="${IRIS_TINY_LANES:-2}"
threads=()
[ "$lanes" = 1 ] || threads=(--threads 1)

# finished NAME STEPS: whether the run $R/NAME has reached STEPS.
finished() {
    [ -f "$R/$1/train_state.json" ] &&
        [ "$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['step'])" "$R/$1/train_state.json")" -ge "$2" ]
}

# train NAME STEPS ARGS...: one `iris train` run into $R/NAME, skipped when done, resumed when cut short.
train() {
    local name=$1 steps=$2
    shift 2
    local out="$R/$name" resume=()
    finished "$name" "$steps" && return 0
    [ -f "$out/train_state.json" ] && resume=(--resume "$out")
    echo "== $name ($steps steps) $(date -u +%H:%M)"
    $iris "${threads[@]}" train --steps "$steps" --out "$out" --save-every 250 --seed 0 --weight-decay 0.01 \
        "${resume[@]}" "$@"
}

# Stage 1 at a low rate: at 2e-3 the projector's output grew from norm 3 to 90 (the decoder's RMSNorm
# hides its scale, so Adam's steps inflate it) and colour fell from 29 % of its variance to 7 %; stage 2
# then learned no colour at all. Stage 2 in large batches: which colour goes with which shape is learned
# in a sudden step whose wait grows with the tokens to search and shrinks with the batch
# (tools/tiny/binding.py; docs/training.md).
# stages FAMILY DATA STEPS LR: its stage 1, then STEPS of stage 2 at rate LR, on DATA.
stages() {
    local m=$1 data=$2 steps=$3 lr=$4
    train $m-stage1 1000 --model "$R/$m-base" --data "$data" --stage 1 --batch-size 32 --lr 2e-4 --warmup 50
    train $m-stage2 "$steps" --model "$R/$m-stage1" --data "$data" --stage 2 --batch-size 128 --lr "$lr" \
        --warmup 100
}

# Method A: the Llama on text, then the CLIP encoder from scratch (16 patch labels a picture, 64
# pictures a step), composed, then its stages.
llava() {
    train text 1500 --model "$R/llava-init" --data "$D/text.jsonl" --stage 2 --freeze 'multi_modal_projector.*' \
        --batch-size 32 --lr 3e-3 --warmup 50
    local enc
    mapfile -t enc < <(encoder llava)
    train clip-probe "${enc[1]}" --model "$R/llava-init" --data "${enc[0]}" --probe 161 --stage 1 \
        --train 'vision_tower.*' --batch-size 64 --lr 1e-3 --warmup 200 --image-cache-mb 5500
    [ -f "$R/llava-base/model.safetensors" ] || "$py" tools/tiny/tiny.py llava "$R/text" "$R/clip-probe" "$R/llava-base"
    stages llava "$D/train.jsonl" 3000 2e-3
}

# Method B: its encoder from scratch, then (once the Llama is trained) composed and its stages. Waiting on
# the other lane, it gives up when that lane has ended without the Llama.
mllama() {
    local enc
    mapfile -t enc < <(encoder mllama)
    train mllama-probe "${enc[1]}" --model "$R/mllama-init" --data "${enc[0]}" --probe 161 --stage 1 \
        --train 'vision_model.*' --freeze 'language_model.*' --batch-size 64 --lr 1e-3 --warmup 200 \
        --image-cache-mb 5500
    until finished text 1500; do
        if [ -n "${1:-}" ] && ! kill -0 "$1" 2>/dev/null; then
            finished text 1500 && break
            echo "the LLaVA lane ended without the text model" >&2
            return 1
        fi
        sleep 20
    done
    [ -f "$R/mllama-base/model.safetensors" ] || "$py" tools/tiny/tiny.py mllama "$R/text" "$R/mllama-probe" "$R/mllama-base"
    stages mllama "$D/train-extra.jsonl" 4000 1e-3
}

if [ "$lanes" = 1 ]; then
    llava
    mllama
else
    echo "== the two families side by side: $R/llava.log, $R/mllama.log"
    echo "$lanes" > "$R/lanes"  # for the report: its step times are of one thread each
    llava > "$R/llava.log" 2>&1 &
    a=$!
    mllama "$a" > "$R/mllama.log" 2>&1 &
    b=$!
    # Both lanes end before anything else runs; either's failure stops the script.
    ok=0
    wait "$a" || { ok=1; echo "the LLaVA lane failed: $R/llava.log" >&2; }
    wait "$b" || { ok=1; echo "the Mllama lane failed: $R/mllama.log" >&2; }
    [ "$ok" = 0 ] || exit 1
fi

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

# An encoder study reports its results but changes neither the docs nor the shipped models.
if [ -n "$wide" ]; then
    echo "done: results in $R/results (IRIS_TINY_WIDE_ENCODERS=$wide: nothing shipped)"
    exit 0
fi
mkdir -p docs/training
$iris plot --out docs/training/pretraining.png --title "pre-training: the Llama on text, the encoders on attributes" \
    "Llama (text)=$R/text" "CLIP encoder (attributes)=$R/clip-probe" "Mllama encoder (attributes)=$R/mllama-probe"
$iris plot --out docs/training/llava.png --title "Method A (LLaVA)" "stage 1=$R/llava-stage1" "stage 2=$R/llava-stage2"
$iris plot --out docs/training/mllama.png --title "Method B (Mllama)" "stage 1=$R/mllama-stage1" \
    "stage 2=$R/mllama-stage2"
python3 tools/tiny/report.py "$R" docs/training.md

# Ship: bf16; the example picture and the held-out questions the tests ask (the first six pictures of
# each held-out split); transformers' numbers on the example for crates/model/tests/tiny.rs.
mkdir -p models/examples
cp "$D/images/heldout/000048.png" models/examples/shapes.png
"$py" - "$D" models/examples <<'PY'
import json, os, shutil, sys
data, out = sys.argv[1], sys.argv[2]
lines = []
for split in ["heldout", "heldout-shift"]:
    for line in open(f"{data}/{split}.jsonl"):
        v = json.loads(line)
        if int(os.path.basename(v["image"]).split(".")[0]) < 6:
            os.makedirs(f"{out}/{split}", exist_ok=True)
            shutil.copy(f"{data}/{v['image']}", f"{out}/{split}/")
            v["image"] = v["image"].replace("images/", "")
            lines.append(json.dumps(v))
open(f"{out}/questions.jsonl", "w").write("\n".join(lines) + "\n")
PY
fx=crates/model/tests/fixtures/tiny
mkdir -p "$fx"
q="What color is the circle?"
for m in llava mllama; do
    "$py" tools/tiny/tiny.py half "$R/$m-stage2" "models/tiny-$m"
    "$py" tools/tiny/tiny.py check "models/tiny-$m" "$fx/tiny-$m.safetensors" models/examples/shapes.png "$q" \
        | tail -1 > "$R/results/tiny-$m.check.json"
done
"$py" - "$R/results" "$q" > "$fx/meta.json" <<'PY'
import json, sys
res, q = sys.argv[1], sys.argv[2]
meta = {"question": q, "image": "models/examples/shapes.png"}
for m in ["tiny-llava", "tiny-mllama"]:
    meta[m] = json.load(open(f"{res}/{m}.check.json"))["answer"].strip()
print(json.dumps(meta, indent=2))
PY
echo "done: models/tiny-llava, models/tiny-mllama; results in $R/results"
