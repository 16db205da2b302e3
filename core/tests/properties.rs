//! Random acquire / convert / release sequences: each handle's `held()` must match a simple model,
//! and the kernel's view, probed through a separate handle (another owner), must match the model.

use locksfile::{LockMode, LockRange, LocksFile, Scope};
use proptest::prelude::*;

/// Indices the model tracks; ranges reach past it so open-ended and long runs are exercised.
const N: usize = 24;

#[derive(Clone, Debug)]
enum Op {
    Acquire { view: usize, mode: LockMode, start: u64, count: Option<u64> },
    Release { view: usize, start: u64, count: Option<u64> },
    ReleaseAll { view: usize },
}

fn op(views: usize) -> impl Strategy<Value = Op> {
    let mode = prop_oneof![Just(LockMode::Read), Just(LockMode::Write)];
    let count = prop_oneof![4 => (1u64..6).prop_map(Some), 1 => Just(None)];
    prop_oneof![
        6 => (0..views, mode, 0u64..20, count.clone())
            .prop_map(|(view, mode, start, count)| Op::Acquire { view, mode, start, count }),
        3 => (0..views, 0u64..20, count).prop_map(|(view, start, count)| Op::Release { view, start, count }),
        1 => (0..views).prop_map(|view| Op::ReleaseAll { view }),
    ]
}

fn range(start: u64, count: Option<u64>) -> LockRange {
    match count {
        Some(count) => LockRange::new(start, count).unwrap(),
        None => LockRange::from_start(start).unwrap(),
    }
}

type Model = [Option<LockMode>; N];

fn apply(model: &mut Model, start: u64, count: Option<u64>, mode: Option<LockMode>) {
    let end = count.map_or(N as u64, |c| (start + c).min(N as u64));
    for slot in &mut model[start as usize..end as usize] {
        *slot = mode;
    }
}

fn expand(held: &[(LockRange, LockMode)]) -> Model {
    let mut model = [None; N];
    for (range, mode) in held {
        apply(&mut model, range.start(), range.count(), Some(*mode));
    }
    model
}

/// The kernel's view of each index, from another owner: what it cannot take.
fn probe(prober: &LocksFile) -> Model {
    let mut seen = [None; N];
    for (index, slot) in seen.iter_mut().enumerate() {
        let index = index as u64;
        *slot = if prober.try_acquire(index, LockMode::Write).unwrap() {
            prober.release(index).unwrap();
            None
        } else if prober.try_acquire(index, LockMode::Read).unwrap() {
            prober.release(index).unwrap();
            Some(LockMode::Read)
        } else {
            Some(LockMode::Write)
        };
    }
    seen
}

fn run(scope: Scope, views: usize, ops: &[Op], name: &str) -> Result<(), TestCaseError> {
    let dir = std::env::temp_dir().join(format!("locksfile-prop-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p.lock");
    let handles: Vec<LocksFile> =
        (0..views).map(|_| LocksFile::options().scope(scope).open(&path).unwrap()).collect();
    // A different owner: another open file description, or OFD against classic (they conflict).
    let prober = LocksFile::open(&path).unwrap();
    let mut models = vec![[None; N]; views];
    for op in ops {
        match *op {
            Op::Acquire { view, mode, start, count } => {
                handles[view].acquire(range(start, count), mode).unwrap();
                apply(&mut models[view], start, count, Some(mode));
            }
            Op::Release { view, start, count } => {
                handles[view].release(range(start, count)).unwrap();
                apply(&mut models[view], start, count, None);
            }
            Op::ReleaseAll { view } => {
                handles[view].release_all().unwrap();
                models[view] = [None; N];
            }
        }
        for (view, handle) in handles.iter().enumerate() {
            prop_assert_eq!(expand(&handle.held()), models[view], "held() of view {} after {:?}", view, op);
            for (index, expected) in models[view].iter().enumerate() {
                prop_assert_eq!(handle.mode_of(index as u64), *expected);
            }
        }
        let mut combined = [None; N];
        for (index, slot) in combined.iter_mut().enumerate() {
            *slot = models.iter().filter_map(|model| model[index]).max();
        }
        prop_assert_eq!(probe(&prober), combined, "kernel after {:?}", op);
    }
    drop(handles);
    prop_assert_eq!(probe(&prober), [None; N], "closing released everything");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn one_handle_matches_the_model_and_the_kernel(ops in prop::collection::vec(op(1), 1..40)) {
        run(Scope::OpenFile, 1, &ops, "single")?;
    }

    #[test]
    fn process_scope_views_combine_as_the_strongest_mode(ops in prop::collection::vec(op(3), 1..40)) {
        run(Scope::Process, 3, &ops, "views")?;
    }
}
