import { deepEqual, equal, ok } from "node:assert/strict";
import { decodeServerMessage, type ServerMessage } from "../protocol/mod.ts";
import { ManualClock, Random, Room, type Seat } from "../rooms/mod.ts";
import { TestMember } from "../rooms/testing.ts";
import { fullDeck, rankOf, secretCards, type SecretCardsState } from "../games/secret_cards.ts";

async function start(seed: string, options: { handSize?: number } = {}) {
  const clock = new ManualClock();
  const room = new Room({ id: "s", game: secretCards, clock, seed, options });
  const members = [new TestMember(), new TestMember()];
  const seats: Seat[] = [await room.join({}, members[0]), await room.join({}, members[1])];
  return { clock, room, members, seats, state: () => room.state as SecretCardsState };
}

Deno.test("each player is dealt distinct cards from one deck and sees only their own hand", async () => {
  const { room, members, state } = await start("deal");
  const { p1, p2 } = state().hands;
  equal(p1.length, 5);
  equal(new Set([...p1, ...p2]).size, 10);
  ok([...p1, ...p2].every((c) => fullDeck().includes(c)));
  deepEqual((members[0].state as { hand: string[] }).hand, p1);
  deepEqual((members[1].state as { hand: string[] }).hand, p2);
  const watcher = new TestMember();
  await room.join({ spectator: true }, watcher);
  deepEqual((watcher.state as { hand: string[] }).hand, []);
  deepEqual((watcher.state as { handSizes: unknown }).handSizes, { p1: 5, p2: 5 });
  room.dispose();
});

Deno.test("a round: both play face down, then the higher rank scores and the cards are revealed", async () => {
  const { room, members, seats, state } = await start("round", { handSize: 2 });
  const [a, b] = [state().hands.p1[0], state().hands.p2[0]];
  seats[0].act(1, "play", { card: a });
  deepEqual((members[0].state as { myCard: string }).myCard, a);
  deepEqual((members[1].state as { ready: unknown }).ready, { p1: true, p2: false });
  seats[0].act(2, "play", { card: state().hands.p1[0] });
  deepEqual(members[0].rejects.map((r) => r.code), ["not_your_turn"]);
  seats[1].act(1, "play", { card: "x99" });
  deepEqual(members[1].rejects.map((r) => [r.code, r.message]), [[
    "invalid_action",
    "you do not hold x99",
  ]]);
  seats[1].act(2, "play", { card: b });
  const winner = rankOf(a) > rankOf(b) ? "p1" : rankOf(a) < rankOf(b) ? "p2" : null;
  deepEqual(state().rounds, [{ p1: a, p2: b, winner }]);
  deepEqual(members[0].events.at(-1)!.data, { p1: a, p2: b, winner });
  deepEqual(state().played, { p1: null, p2: null });
  room.dispose();
});

Deno.test("when the hands are empty the higher score wins, equal scores draw; leaving forfeits", async () => {
  for (let i = 0; i < 20; i++) {
    const { room, seats, state } = await start(`end-${i}`, { handSize: 3 });
    for (let round = 1; round <= 3; round++) {
      seats[0].act(round, "play", { card: state().hands.p1[0] });
      seats[1].act(round, "play", { card: state().hands.p2[0] });
    }
    const { p1, p2 } = state().score;
    const expected = p1 === p2
      ? { draw: true, reason: "equal scores" }
      : { winners: [p1 > p2 ? "p1" : "p2"], reason: "higher score" };
    deepEqual(room.outcome, expected);
    room.dispose();
  }
  const { room, seats, state } = await start("quit");
  seats[0].act(1, "play", { card: state().hands.p1[0] });
  seats[1].leave();
  deepEqual(room.outcome, { winners: ["p1"], reason: "forfeit" });
  room.dispose();
});

Deno.test("leaving before the first card forfeits nothing: the seat is free again, dealt afresh", async () => {
  const { room, seats, members, state } = await start("early");
  // Whoever sat in p2 saw this hand (a player with two tabs, say).
  const seen = [...(members[1].state as { hand: string[] }).hand];
  seats[1].leave();
  equal(room.outcome, null);
  const carl = new TestMember();
  await room.join({}, carl);
  equal(carl.player, "p2");
  const hand = (carl.state as { hand: string[] }).hand;
  deepEqual(hand, state().hands.p2);
  equal(hand.length, seen.length);
  ok(hand.some((card) => !seen.includes(card)), "not the hand the leaver saw");
  deepEqual(
    (members[0].state as { hand: string[] }).hand,
    state().hands.p1,
    "p1 sees its new hand",
  );
  room.dispose();

  // Alone in a new room, the creator leaves: nobody wins a game that never started.
  const lone = new Room({ id: "l", game: secretCards, clock: new ManualClock(), seed: "l" });
  const seat = await lone.join({}, new TestMember());
  seat.leave();
  equal(lone.outcome, null);
  lone.dispose();
});

/** Every string and number inside a decoded message, keys included. */
function atoms(value: unknown, out: Set<string>): Set<string> {
  if (typeof value === "string") out.add(value);
  else if (Array.isArray(value)) { for (const v of value) atoms(v, out); }
  else if (value instanceof Uint8Array) out.add(new TextDecoder().decode(value));
  else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      out.add(k);
      atoms(v, out);
    }
  }
  return out;
}

/** A copy of `bytes` with every occurrence of `part` zeroed. */
function blankOut(bytes: Uint8Array, part: Uint8Array): Uint8Array {
  const out = bytes.slice();
  outer: for (let i = 0; i + part.length <= out.length; i++) {
    for (let j = 0; j < part.length; j++) if (out[i + j] !== part[j]) continue outer;
    out.fill(0, i, i + part.length);
  }
  return out;
}

function bytesContain(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

Deno.test("property: random play never sends a player the other's secret cards, nor spectators either hand", async () => {
  const encoder = new TextEncoder();
  for (let game = 0; game < 40; game++) {
    const r = new Random(`secrecy-${game}`);
    const { room, clock, members, seats, state } = await start(`secrecy-${game}`, {
      handSize: 1 + r.int(8),
    });
    const watcher = new TestMember();
    await room.join({ spectator: true }, watcher);
    const recipients = [
      { member: members[0], secretOf: ["p2"] },
      { member: members[1], secretOf: ["p1"] },
      { member: watcher, secretOf: ["p1", "p2"] },
    ];
    const checked = recipients.map(() => 0);
    const seqs = [1, 1];
    const check = () => {
      // Unrevealed cards: those in a hand, and those played face down this round.
      const secrets = (of: string[]) =>
        of.flatMap((p) => {
          const seat = p as "p1" | "p2";
          const played = state().played[seat];
          return played === null ? state().hands[seat] : [...state().hands[seat], played];
        });
      recipients.forEach(({ member, secretOf }, i) => {
        const hidden = secrets(secretOf);
        for (const frame of member.frames.slice(checked[i])) {
          const message: ServerMessage = decodeServerMessage(frame);
          if (message.kind === "reject") {
            // A refusal only echoes the card the player named themselves.
            ok(
              /^(you do not hold [a-z]\d\d|you already played this round|It is not p\d's turn\.)$/
                .test(message.message),
              message.message,
            );
            continue;
          }
          // A welcome's random session token may spell a card name by chance: blank it out.
          const bytes = message.kind === "welcome"
            ? blankOut(frame, encoder.encode(message.session))
            : frame;
          for (const card of hidden) {
            ok(!bytesContain(bytes, encoder.encode(card)), `${card} leaked in a ${message.kind}`);
          }
          const seen = atoms(message, new Set());
          for (const card of hidden) ok(!seen.has(card), `${card} leaked in ${message.kind}`);
        }
        checked[i] = member.frames.length;
        // The key and target tables a welcome carries are in the frames checked above.
      });
    };
    check();
    for (let step = 0; step < 60 && !room.outcome; step++) {
      const who = r.int(2);
      const me = who === 0 ? "p1" : "p2";
      const roll = r.int(10);
      if (roll === 0) {
        // Drop and resume (replay or full state) mid-game.
        seats[who].disconnect();
        clock.advance(r.int(5_000));
        members[who].reopen();
        const since = r.int(2) === 0 ? members[who].seq : 0;
        seats[who] = await room.join(
          { resume: { session: seats[who].session, seq: since } },
          members[who],
        );
      } else if (roll === 1) {
        seats[who].act(seqs[who]++, "play", { card: fullDeck()[r.int(52)] });
      } else {
        const hand = state().hands[me];
        if (hand.length > 0) seats[who].act(seqs[who]++, "play", { card: r.pick(hand) });
      }
      check();
      for (const { member } of recipients) deepEqual(member.problems, []);
      deepEqual(members[who].state, JSON.parse(JSON.stringify(room.view(me))));
    }
    deepEqual(watcher.state, JSON.parse(JSON.stringify(room.view(null))));
    room.dispose();
  }
});
