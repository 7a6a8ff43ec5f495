//! What a picture of the shapes dataset holds (1 to 3 shapes, no two of one
//! shape or one colour, not overlapping) and the questions asked of it, with
//! the answer word each must contain.

use iris_model::train::trainer::mix;

pub const SHAPES: [&str; 5] = ["circle", "square", "triangle", "star", "cross"];
pub const COLORS: [&str; 8] = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"];
pub const COUNTS: [&str; 3] = ["one", "two", "three"];
pub const PLACES: [&str; 4] = ["top left", "top right", "bottom left", "bottom right"];

/// A seeded stream (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(mix(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        mix(self.0)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }
    /// A standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.unit().max(1e-7), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
    /// `k` distinct indices below `n`.
    pub fn pick(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            v.swap(i, j);
        }
        v.truncate(k);
        v
    }
}

/// One shape placed on the picture; coordinates are fractions of the side.
#[derive(Clone, Debug)]
pub struct Object {
    pub shape: usize,
    pub color: usize,
    pub x: f32,
    pub y: f32,
    pub radius: f32,
}

impl Object {
    pub fn name(&self) -> String {
        format!("{} {}", COLORS[self.color], SHAPES[self.shape])
    }
    /// The quadrant holding its centre.
    pub fn place(&self) -> usize {
        usize::from(self.x >= 0.5) + 2 * usize::from(self.y >= 0.5)
    }
}

/// The objects of one picture, left to right, and whether a lone shape sits
/// wholly inside one quadrant (so "Where is ..." has one answer).
#[derive(Clone, Debug)]
pub struct Scene {
    pub objects: Vec<Object>,
    pub in_quadrant: bool,
}

/// Radii as fractions of the side: the usual range, or (shifted) the sizes
/// training sees least.
pub fn radius(rng: &mut Rng, shifted: bool) -> f32 {
    match (shifted, rng.chance(0.5)) {
        (false, _) => rng.range(0.10, 0.20),
        (true, true) => rng.range(0.08, 0.10),
        (true, false) => rng.range(0.20, 0.23),
    }
}

impl Scene {
    pub fn sample(rng: &mut Rng, shifted: bool) -> Scene {
        loop {
            let n = 1 + rng.below(3);
            let shapes = rng.pick(SHAPES.len(), n);
            let colors = rng.pick(COLORS.len(), n);
            let in_quadrant = n == 1 && rng.chance(0.7);
            let mut objects: Vec<Object> = Vec::with_capacity(n);
            for (&shape, &color) in shapes.iter().zip(&colors) {
                let r = radius(rng, shifted);
                let margin = 0.02;
                let mut placed = None;
                for _ in 0..200 {
                    let (x, y) = if in_quadrant {
                        let q = rng.below(4);
                        let lo = r + margin;
                        let hi = 0.5 - r - margin;
                        let (ox, oy) = ((q % 2) as f32 * 0.5, (q / 2) as f32 * 0.5);
                        (ox + rng.range(lo, hi.max(lo)), oy + rng.range(lo, hi.max(lo)))
                    } else {
                        (rng.range(r + margin, 1.0 - r - margin), rng.range(r + margin, 1.0 - r - margin))
                    };
                    let clear = objects.iter().all(|o| {
                        let d = ((o.x - x).powi(2) + (o.y - y).powi(2)).sqrt();
                        d > o.radius + r + 0.03
                    });
                    if clear {
                        placed = Some((x, y));
                        break;
                    }
                }
                let Some((x, y)) = placed else { break };
                objects.push(Object { shape, color, x, y, radius: r });
            }
            if objects.len() == n {
                objects.sort_by(|a, b| a.x.total_cmp(&b.x));
                return Scene { objects, in_quadrant };
            }
        }
    }

    /// "a red circle and a blue star": every shape with its colour, left to right.
    pub fn caption(&self) -> String {
        let names: Vec<String> = self.objects.iter().map(|o| format!("a {}", o.name())).collect();
        names.join(" and ")
    }

    /// The caption with each shape's quadrant (for pre-training the vision encoder).
    pub fn detailed_caption(&self) -> String {
        let names: Vec<String> =
            self.objects.iter().map(|o| format!("a {} at {}", o.name(), PLACES[o.place()])).collect();
        let n = self.objects.len();
        format!("{} shape{}: {}", COUNTS[n - 1], if n > 1 { "s" } else { "" }, names.join(" and "))
    }
}

/// Classes of a patch label (`labels`): a shape in a colour in a quadrant,
/// (shape·8 + colour)·4 + quadrant (PLACES' order), or the background (the last).
pub const LABEL_CLASSES: usize = SHAPES.len() * COLORS.len() * PLACES.len() + 1;

/// What each patch of the picture shows, for pre-training a vision encoder:
/// a `grid` × `grid` split of the picture, row by row, each cell labelled
/// with the shape (and colour) whose disc of `radius` holds the cell's
/// centre, the nearest if two do, and the cell's quadrant; or the background.
/// A disc is at least a cell's half-diagonal wide, so each shape has at least
/// the cell of its centre. The quadrant makes each token keep where it is: a
/// cross-attention decoder (Mllama) has no other way to know.
pub fn labels(scene: &Scene, grid: usize) -> Vec<u32> {
    let cell = |i: usize| (i as f32 + 0.5) / grid as f32;
    let reach = |o: &Object| o.radius.max(0.71 / grid as f32);
    let mut out = Vec::with_capacity(grid * grid);
    for row in 0..grid {
        for col in 0..grid {
            let dist = |o: &Object| (cell(col) - o.x).hypot(cell(row) - o.y);
            let near = scene.objects.iter().filter(|o| dist(o) <= reach(o)).min_by(|a, b| dist(a).total_cmp(&dist(b)));
            let quadrant = usize::from(cell(col) >= 0.5) + 2 * usize::from(cell(row) >= 0.5);
            let class = |o: &Object| (o.shape * COLORS.len() + o.color) * PLACES.len() + quadrant;
            out.push(near.map_or(LABEL_CLASSES - 1, class) as u32);
        }
    }
    out
}

/// The kinds of question, in the order results are reported.
pub const KINDS: [&str; 6] = ["color", "shape", "count", "exists", "where", "describe"];

/// A question about a scene: its text, the answer to train on, and what a
/// generated answer must name to count as right.
#[derive(Clone, Debug)]
pub struct Question {
    pub kind: &'static str,
    pub text: String,
    pub answer: String,
    /// The words the answer must contain (every one; for "describe", each
    /// "colour shape" pair).
    pub expect: Vec<String>,
}

/// The question of `kind` about `scene` (None where it does not apply:
/// "where" needs a lone shape inside a quadrant).
pub fn ask(rng: &mut Rng, scene: &Scene, kind: &'static str) -> Option<Question> {
    let objs = &scene.objects;
    let o = &objs[rng.below(objs.len())];
    // (question, answer, the word the answer must hold). Colour and shape answers restate the
    // word the question names right before the word asked for ("the circle is green", "a red
    // star"), so the model finds the object from its own last token, as the "colors" lines and
    // the captions practise, not from a word four tokens back in the question.
    let (text, answer, word) = match kind {
        "color" => (
            format!("What color is the {}?", SHAPES[o.shape]),
            format!("the {} is {}", SHAPES[o.shape], COLORS[o.color]),
            COLORS[o.color].to_string(),
        ),
        "shape" => (
            format!("What shape is the {} object?", COLORS[o.color]),
            format!("a {}", o.name()),
            SHAPES[o.shape].to_string(),
        ),
        "count" => {
            let n = COUNTS[objs.len() - 1].to_string();
            ("How many shapes are there?".to_string(), n.clone(), n)
        }
        "exists" => {
            let present = rng.chance(0.5);
            let (c, s) = if present {
                (o.color, o.shape)
            } else {
                // Absent: half the time a colour and a shape that are both there but not together.
                loop {
                    let (c, s) = if objs.len() > 1 && rng.chance(0.5) {
                        (objs[rng.below(objs.len())].color, objs[rng.below(objs.len())].shape)
                    } else {
                        (rng.below(COLORS.len()), rng.below(SHAPES.len()))
                    };
                    if !objs.iter().any(|o| o.color == c && o.shape == s) {
                        break (c, s);
                    }
                }
            };
            let yes = if objs.iter().any(|o| o.color == c && o.shape == s) { "yes" } else { "no" };
            (format!("Is there a {} {}?", COLORS[c], SHAPES[s]), yes.to_string(), yes.to_string())
        }
        "where" if scene.in_quadrant => {
            (format!("Where is the {}?", o.name()), PLACES[o.place()].to_string(), PLACES[o.place()].to_string())
        }
        "where" => return None,
        "describe" => {
            let expect = objs.iter().map(Object::name).collect();
            return Some(Question { kind, text: "Describe the image.".into(), answer: scene.caption(), expect });
        }
        _ => unreachable!("unknown question kind {kind}"),
    };
    Some(Question { kind, text, answer, expect: vec![word] })
}

/// Training only: each shape's colour, the shape named first ("the circle is
/// green and ..."). A caption names the colour first, so it practises finding
/// an object by its colour (what shape questions ask) but never finding one by
/// its shape (what colour questions ask); without this, both families stayed
/// near two thirds on colour questions while shape questions reached 98 %.
pub fn colors(scene: &Scene) -> Question {
    let pair = |o: &Object| format!("the {} is {}", SHAPES[o.shape], COLORS[o.color]);
    let expect: Vec<String> = scene.objects.iter().map(pair).collect();
    Question { kind: "colors", text: "What color are the shapes?".into(), answer: expect.join(" and "), expect }
}

/// The words of each kind a generated answer is checked against (naming
/// another one of them is wrong).
pub fn alternatives(kind: &str) -> &'static [&'static str] {
    match kind {
        "color" => &COLORS,
        "shape" => &SHAPES,
        "count" => &COUNTS,
        "exists" => &["yes", "no"],
        "where" => &PLACES,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_keep_their_rules() {
        let mut rng = Rng::new(7);
        let mut sizes = [0usize; 3];
        for i in 0..2000 {
            let s = Scene::sample(&mut rng, i % 2 == 1);
            let n = s.objects.len();
            sizes[n - 1] += 1;
            for (a, o) in s.objects.iter().enumerate() {
                assert!(o.x - o.radius > 0.0 && o.x + o.radius < 1.0 && o.y - o.radius > 0.0 && o.y + o.radius < 1.0);
                for p in &s.objects[a + 1..] {
                    assert!(o.shape != p.shape && o.color != p.color, "repeated shape or colour");
                    let d = ((o.x - p.x).powi(2) + (o.y - p.y).powi(2)).sqrt();
                    assert!(d > o.radius + p.radius, "overlap");
                    assert!(o.x <= p.x, "not left to right");
                }
            }
            if s.in_quadrant {
                let o = &s.objects[0];
                assert_eq!(n, 1);
                // Wholly inside the quadrant of its centre.
                let (qx, qy) = ((o.place() % 2) as f32 * 0.5, (o.place() / 2) as f32 * 0.5);
                assert!(o.x - o.radius >= qx && o.x + o.radius <= qx + 0.5);
                assert!(o.y - o.radius >= qy && o.y + o.radius <= qy + 0.5);
            }
        }
        assert!(sizes.iter().all(|&k| k > 500), "1, 2 and 3 shapes about equally often: {sizes:?}");
    }

    #[test]
    fn answers_follow_from_the_scene() {
        let mut rng = Rng::new(11);
        let (mut yes, mut no) = (0, 0);
        for _ in 0..2000 {
            let s = Scene::sample(&mut rng, false);
            for kind in KINDS {
                let Some(q) = ask(&mut rng, &s, kind) else {
                    assert!(kind == "where" && !s.in_quadrant);
                    continue;
                };
                let find = |w: &str| q.text.contains(w);
                match kind {
                    "color" => assert!(s.objects.iter().any(|o| find(SHAPES[o.shape])
                        && q.answer == format!("the {} is {}", SHAPES[o.shape], COLORS[o.color])
                        && q.expect == [COLORS[o.color]])),
                    "shape" => assert!(s.objects.iter().any(|o| find(COLORS[o.color])
                        && q.answer == format!("a {} {}", COLORS[o.color], SHAPES[o.shape])
                        && q.expect == [SHAPES[o.shape]])),
                    "count" => assert_eq!(q.answer, COUNTS[s.objects.len() - 1]),
                    "exists" => {
                        let there = s
                            .objects
                            .iter()
                            .any(|o| find(&format!("a {} ", o.name())) || find(&format!("a {}?", o.name())));
                        assert_eq!(q.answer, if there { "yes" } else { "no" });
                        if there {
                            yes += 1
                        } else {
                            no += 1
                        }
                    }
                    "where" => assert_eq!(q.answer, PLACES[s.objects[0].place()]),
                    _ => assert!(s.objects.iter().all(|o| q.answer.contains(&o.name()))),
                }
                assert!(q.expect.iter().all(|e| q.answer.contains(e.as_str())));
            }
            // The patch labels: each shape's class and quadrant at the cell holding its centre;
            // only the scene's shapes, each somewhere; background far from every shape.
            let g = 8;
            let l = labels(&s, g);
            assert_eq!(l.len(), g * g);
            let class = |o: &Object| (o.shape * COLORS.len() + o.color) as u32;
            for o in &s.objects {
                let at = |v: f32| ((v * g as f32) as usize).min(g - 1);
                assert_eq!(l[at(o.y) * g + at(o.x)], class(o) * 4 + o.place() as u32, "{o:?}");
            }
            let bg = (LABEL_CLASSES - 1) as u32;
            assert!(l.iter().all(|&c| c == bg || s.objects.iter().any(|o| class(o) == c / 4)));
            for (i, &c) in l.iter().enumerate().filter(|(_, &c)| c != bg) {
                let right_bottom = (c % 2 == 1, c % 4 >= 2);
                assert_eq!(right_bottom, (i % g >= g / 2, i / g >= g / 2), "cell {i}: quadrant of {c}");
            }
            for (i, &c) in l.iter().enumerate() {
                let (x, y) = (((i % g) as f32 + 0.5) / g as f32, ((i / g) as f32 + 0.5) / g as f32);
                let far = s.objects.iter().all(|o| (x - o.x).hypot(y - o.y) > o.radius.max(0.71 / g as f32));
                assert_eq!(c == bg, far, "cell {i} of {s:?}");
            }
        }
        assert!((yes as f64 / (yes + no) as f64 - 0.5).abs() < 0.05, "yes {yes} no {no}");
    }
}
