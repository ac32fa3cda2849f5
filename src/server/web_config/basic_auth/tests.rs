//! Basic auth: the dummy hash, the verdict caches, carry-over across re-reads, the pool's
//! per-address share.

use super::*;

/// A gate with a pool of its own, so tests running in parallel never see each other busy.
fn own_pool(mut auth: BasicAuth) -> Arc<BasicAuth> {
    auth.pool = Arc::new(Pool::new(4));
    Arc::new(auth)
}

fn gate() -> Arc<BasicAuth> {
    let hash = bcrypt::hash("right", 4).unwrap();
    own_pool(BasicAuth::new(BTreeMap::from([(
        "alice".to_string(),
        hash,
    )])))
}

#[tokio::test]
async fn unknown_user_is_checked_against_the_dummy_hash() {
    let auth = gate();
    let Target::Unknown(dummy) = auth.target("mallory") else {
        panic!("mallory is not configured");
    };
    assert_eq!(dummy, auth.dummy_hash);
    // Same cost as alice's hash, so the bcrypt run takes as long.
    let cost = |h: &str| h.parse::<bcrypt::HashParts>().unwrap().get_cost();
    assert_eq!(cost(dummy), cost(&auth.users["alice"]));

    assert_eq!(auth.verify("mallory", "right", None).await, Verdict::Denied);
    assert_eq!(
        auth.bcrypt_runs(),
        1,
        "unknown users pay for one bcrypt run"
    );
}

#[tokio::test]
async fn verdicts_are_cached_per_user_and_password() {
    let auth = gate();
    assert_eq!(auth.verify("alice", "right", None).await, Verdict::Allowed);
    assert_eq!(auth.verify("alice", "right", None).await, Verdict::Allowed);
    assert_eq!(auth.bcrypt_runs(), 1);
    assert_eq!(auth.verify("alice", "wrong", None).await, Verdict::Denied);
    assert_eq!(auth.verify("alice", "wrong", None).await, Verdict::Denied);
    assert_eq!(auth.bcrypt_runs(), 2);
    // A password that makes the same concatenation with another user is another key.
    assert_eq!(auth.verify("alicer", "ight", None).await, Verdict::Denied);
    assert_eq!(auth.bcrypt_runs(), 3);
}

#[tokio::test]
async fn a_storm_of_wrong_passwords_never_evicts_a_good_verdict() {
    let auth = gate();
    assert_eq!(auth.verify("alice", "right", None).await, Verdict::Allowed);
    let runs = auth.bcrypt_runs();
    // More distinct wrong passwords than the bad-verdict cache holds (inserted directly:
    // what a storm leaves behind, without paying for its bcrypt runs).
    for i in 0..(CACHE_CAPACITY * 2) {
        let key = cache_key_for("alice", &format!("wrong-{i}"));
        insert_bounded(&auth.bad, CACHE_CAPACITY, key, "alice");
    }
    assert_eq!(auth.verify("alice", "right", None).await, Verdict::Allowed);
    assert_eq!(
        auth.bcrypt_runs(),
        runs,
        "the good verdict came from the cache"
    );
}

#[tokio::test]
async fn verdicts_carry_over_a_re_read_only_for_unchanged_users() {
    let alice = bcrypt::hash("right", 4).unwrap();
    let bob = bcrypt::hash("builder", 4).unwrap();
    let users = |bob_hash: &str| {
        BTreeMap::from([
            ("alice".to_string(), alice.clone()),
            ("bob".to_string(), bob_hash.to_string()),
        ])
    };
    let before = own_pool(BasicAuth::new(users(&bob)));
    assert_eq!(
        before.verify("alice", "right", None).await,
        Verdict::Allowed
    );
    assert_eq!(
        before.verify("bob", "builder", None).await,
        Verdict::Allowed
    );

    let new_bob = bcrypt::hash("fixer", 4).unwrap();
    let after = own_pool(BasicAuth::carrying_over(users(&new_bob), &before));
    assert_eq!(after.verify("alice", "right", None).await, Verdict::Allowed);
    assert_eq!(after.bcrypt_runs(), 0, "alice's verdict was kept");
    assert_eq!(after.verify("bob", "builder", None).await, Verdict::Denied);
    assert_eq!(after.bcrypt_runs(), 1, "bob's hash changed: checked again");
}

#[tokio::test]
async fn an_identical_check_in_flight_is_waited_for_not_refused() {
    let auth = gate();
    let peer: IpAddr = "192.0.2.7".parse().unwrap();
    let (a, b) = tokio::join!(
        auth.verify("alice", "right", Some(peer)),
        auth.verify("alice", "right", Some(peer))
    );
    assert_eq!((a, b), (Verdict::Allowed, Verdict::Allowed));
    assert_eq!(auth.bcrypt_runs(), 1);
    // A different check from the same address while one runs is refused at once. The
    // running check is held here by its slot, not by racing two calls (a bcrypt run at
    // cost 4 can end between the two polls of a join on a loaded machine).
    let running = auth
        .pool
        .try_slot(Some(peer))
        .expect("the address's share is free");
    assert_eq!(
        auth.verify("alice", "other", Some(peer)).await,
        Verdict::Busy,
        "a different check from the same address is refused at once"
    );
    drop(running);
    assert_eq!(
        auth.verify("alice", "other", Some(peer)).await,
        Verdict::Denied
    );
}

#[tokio::test]
async fn a_client_asking_again_after_its_answer_finds_its_share_free() {
    let auth = gate();
    let peer: IpAddr = "192.0.2.8".parse().unwrap();
    for i in 0..20 {
        let got = auth
            .verify("alice", &format!("wrong-{i}"), Some(peer))
            .await;
        assert_eq!(got, Verdict::Denied, "attempt {i}");
    }
}

#[test]
fn one_address_holds_at_most_its_share_of_the_pool() {
    let pool = Arc::new(Pool::new(2));
    let a: IpAddr = "192.0.2.1".parse().unwrap();
    let b: IpAddr = "192.0.2.2".parse().unwrap();
    let a_v6: IpAddr = "2001:db8::1".parse().unwrap();
    let a_v6_same_64: IpAddr = "2001:db8::ffff:1".parse().unwrap();

    let first = pool.try_slot(Some(a)).expect("a free slot");
    assert!(
        pool.try_slot(Some(a)).is_none(),
        "a second run for the same address"
    );
    let second = pool
        .try_slot(Some(b))
        .expect("another address gets the other slot");
    assert!(pool.try_slot(Some(a_v6)).is_none(), "the pool is full");
    drop(first);
    let third = pool.try_slot(Some(a_v6)).expect("a slot freed");
    assert!(
        pool.try_slot(Some(a_v6_same_64)).is_none(),
        "an IPv6 /64 counts as one address"
    );
    drop((second, third));
    let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
    let _held = pool.try_slot(Some(a)).expect("free again");
    assert!(
        pool.try_slot(Some(mapped)).is_none(),
        "IPv4-mapped IPv6 is the IPv4 address"
    );
}

#[test]
fn basic_header_decoding() {
    let h = |s: &str| HeaderValue::from_str(s).unwrap();
    // "alice:pa:ss" — the password may contain ':'.
    assert_eq!(
        decode_basic(&h("Basic YWxpY2U6cGE6c3M=")),
        Some(("alice".into(), "pa:ss".into()))
    );
    assert_eq!(
        decode_basic(&h("basic YWxpY2U6cGE6c3M=")),
        Some(("alice".into(), "pa:ss".into()))
    );
    assert_eq!(decode_basic(&h("Bearer abc")), None);
    assert_eq!(decode_basic(&h("Basic !!!")), None);
    assert_eq!(decode_basic(&h("Basic YWxpY2U=")), None); // no ':'
}
