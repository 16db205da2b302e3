//! Locks by name, observed from another process: a name is the lock `index_of(name)`, in every
//! operation.

mod common;

use common::{temp_dir, Worker};
use locksfile::{index_of, LockMode, LockRange, LocksFile, Scope};

#[test]
fn worker_entry() {
    common::serve_if_worker();
}

#[test]
fn the_same_name_excludes_and_another_does_not() {
    let path = temp_dir("names").join("test.lock");
    let mut other = Worker::start(&path, Scope::OpenFile);
    let (same, different) = (index_of("dataset-42").to_string(), index_of("dataset-43").to_string());
    let locks = LocksFile::open(&path).unwrap();

    locks.acquire("dataset-42", LockMode::Write).unwrap();
    assert_eq!(locks.mode_of(index_of("dataset-42")), Some(LockMode::Write));
    assert_eq!(locks.held(), vec![(LockRange::index(index_of("dataset-42")).unwrap(), LockMode::Write)]);
    assert!(!other.can_take("read", &same));
    assert!(other.can_take("write", &different));
    let holders = locks.holders("dataset-42").unwrap();
    assert!(holders.is_empty(), "{holders:?}"); // only other owners are holders
    locks.release("dataset-42").unwrap();
    assert!(other.can_take("write", &same));

    assert_eq!(other.ask(&format!("acquire read {same} block")), "ok");
    assert!(!locks.try_acquire("dataset-42", LockMode::Write).unwrap());
    assert!(locks.try_acquire(&String::from("dataset-42"), LockMode::Read).unwrap());
    assert_eq!(locks.holders("dataset-42").unwrap().len(), 1);
    drop(locks.read("dataset-43").unwrap());
}
