/**
 * Secret cards: a two-player game of hidden hands, and Arbiter's secrecy test bed. Each
 * player is dealt a hand from a shuffled 52-card deck that only they can see. Every round
 * both players secretly `play` a card; once both have played, the cards are revealed and the
 * higher rank scores a point (equal ranks: nobody). When the hands are empty the higher score
 * wins. Leaving, or letting the seat expire, forfeits.
 *
 * Cards are strings: a suit letter (`c`, `d`, `h`, `s`) and a two-digit rank, `"h07"`.
 * The view shows a player their own hand and face-down card, the sizes of both hands and who
 * has played; spectators see no hand at all. Revealed rounds are public.
 *
 * @module
 */
import { defineGame, type GameContext, type Random, t } from "../rooms/mod.ts";

/** Cards dealt to each player unless `options.handSize` says otherwise. */
export const DEFAULT_HAND_SIZE = 5;

/** One revealed round. */
export interface SecretRound {
  p1: string;
  p2: string;
  winner: string | null;
}

/** The full (server-side) state of a secret cards game. */
export interface SecretCardsState {
  hands: { p1: string[]; p2: string[] };
  played: { p1: string | null; p2: string | null };
  rounds: SecretRound[];
  score: { p1: number; p2: number };
  forfeit: string | null;
}

/** What one member may see. */
export interface SecretCardsView {
  /** The viewer's hand (empty for spectators). */
  hand: string[];
  /** The card the viewer played this round, face down to the other. */
  myCard: string | null;
  handSizes: { p1: number; p2: number };
  /** Who has played this round. */
  ready: { p1: boolean; p2: boolean };
  rounds: SecretRound[];
  score: { p1: number; p2: number };
  forfeit: string | null;
}

type Seat = "p1" | "p2";

/**
 * Every card of the deck, in order.
 *
 * @example
 * ```ts
 * import { fullDeck } from "./secret_cards.ts";
 * console.log(fullDeck().length, fullDeck()[0]); // 52 "c01"
 * ```
 */
export function fullDeck(): string[] {
  const deck: string[] = [];
  for (const suit of ["c", "d", "h", "s"]) {
    for (let rank = 1; rank <= 13; rank++) deck.push(suit + String(rank).padStart(2, "0"));
  }
  return deck;
}

/**
 * A card's rank, 1-13.
 *
 * @example
 * ```ts
 * import { rankOf } from "./secret_cards.ts";
 * console.log(rankOf("s12")); // 12
 * ```
 */
export function rankOf(card: string): number {
  return Number(card.slice(1));
}

function isSeat(player: string | null): player is Seat {
  return player === "p1" || player === "p2";
}

function deal(random: Random, size: number): Record<Seat, string[]> {
  const deck = random.shuffle(fullDeck());
  return { p1: deck.slice(0, size), p2: deck.slice(size, 2 * size) };
}

function forfeit(state: SecretCardsState, player: string, ctx: GameContext): void {
  if (state.forfeit || !isSeat(player)) return;
  if (state.rounds.length === 0 && state.played.p1 === null && state.played.p2 === null) {
    // Before the first card nobody has lost anything: the seat is simply free again. Dealt
    // afresh, though, so that whoever saw the leaver's hand cannot know the next player's.
    state.hands = deal(ctx.random, state.hands.p1.length);
    return;
  }
  state.forfeit = player;
}

/**
 * The secret cards game definition.
 *
 * @example
 * ```ts
 * import { ManualClock, Room } from "../rooms/mod.ts";
 * import { secretCards } from "./secret_cards.ts";
 * const room = new Room({ id: "s", game: secretCards, clock: new ManualClock(), seed: "x" });
 * console.log(room.view(null)); // no hand, sizes 5 and 5
 * room.dispose();
 * ```
 */
export const secretCards = defineGame({
  name: "secret_cards",
  players: { min: 2, max: 2 },
  lateJoin: false,
  options: t.object({ handSize: t.optional(t.int({ min: 1, max: 26 })) }),
  setup(ctx): SecretCardsState {
    return {
      hands: deal(ctx.random, ctx.options.handSize ?? DEFAULT_HAND_SIZE),
      played: { p1: null, p2: null },
      rounds: [],
      score: { p1: 0, p2: 0 },
      forfeit: null,
    };
  },
  actions: {
    play: {
      payload: t.object({ card: t.string({ maxLength: 3 }) }),
      validate(state, { card }, ctx) {
        const me = ctx.player as Seat;
        if (state.played[me] !== null) return "you already played this round";
        if (!state.hands[me].includes(card)) return `you do not hold ${card}`;
        return undefined;
      },
      apply(state, { card }, ctx) {
        const me = ctx.player as Seat;
        state.hands[me].splice(state.hands[me].indexOf(card), 1);
        state.played[me] = card;
        const { p1, p2 } = state.played;
        if (p1 === null || p2 === null) return;
        const diff = rankOf(p1) - rankOf(p2);
        const winner = diff > 0 ? "p1" : diff < 0 ? "p2" : null;
        if (winner) state.score[winner]++;
        const round = { p1, p2, winner };
        state.rounds.push(round);
        state.played = { p1: null, p2: null };
        ctx.emit("round", round);
      },
    },
  },
  turn: (state) => (["p1", "p2"] as const).filter((p) => state.played[p] === null),
  outcome(state) {
    if (state.forfeit) {
      return { winners: [state.forfeit === "p1" ? "p2" : "p1"], reason: "forfeit" };
    }
    if (state.hands.p1.length > 0 || state.hands.p2.length > 0) return undefined;
    if (state.played.p1 !== null || state.played.p2 !== null) return undefined;
    const { p1, p2 } = state.score;
    if (p1 === p2) return { draw: true, reason: "equal scores" };
    return { winners: [p1 > p2 ? "p1" : "p2"], reason: "higher score" };
  },
  view(state, viewer): SecretCardsView {
    const seat = isSeat(viewer) ? viewer : null;
    return {
      hand: seat ? state.hands[seat] : [],
      myCard: seat ? state.played[seat] : null,
      handSizes: { p1: state.hands.p1.length, p2: state.hands.p2.length },
      ready: { p1: state.played.p1 !== null, p2: state.played.p2 !== null },
      rounds: state.rounds,
      score: state.score,
      forfeit: state.forfeit,
    };
  },
  onLeave: forfeit,
  onSeatExpired: forfeit,
});
