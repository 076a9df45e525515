// The conversation as bubbles: one per caller utterance ("You") and one per
// agent turn ("Agent"), the agent's words streaming into their turn's bubble.
// After a barge-in, the words the caller never heard are struck through, cut
// where the gateway says playout was.

// Pieces of text join with one space, never two, and never ". ." or "..".
export function joinText(...parts) {
  return parts.join(" ").replace(/\s+/g, " ").replace(/([.!?])\s*\.(?!\.)/g, "$1").trim();
}

export class Conversation {
  constructor(list) {
    this.list = list;
    this.turns = new Map(); // turn id -> { item, text, heard, figures }
  }

  clear() {
    this.list.replaceChildren();
    this.turns.clear();
  }

  #bubble(who, label) {
    const item = document.createElement("li");
    item.className = `bubble ${who}`;
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = label;
    const body = document.createElement("p");
    body.className = "text";
    item.append(name, body);
    this.list.append(item);
    item.scrollIntoView({ block: "nearest" });
    return item;
  }

  youSaid(text) {
    const item = this.#bubble("you", "You");
    item.querySelector(".text").textContent = joinText(text);
  }

  #turn(turnId) {
    let turn = this.turns.get(turnId);
    if (!turn) {
      const item = this.#bubble("agent", "Agent");
      item.dataset.turn = turnId;
      const figures = document.createElement("p");
      figures.className = "turn-figures";
      item.append(figures);
      turn = { item, text: "", heard: null };
      this.turns.set(turnId, turn);
    }
    return turn;
  }

  agentSaid(turnId, text) {
    const turn = this.#turn(turnId);
    turn.text = joinText(turn.text, text);
    this.#render(turn);
  }

  // The gateway's heard text is a prefix of the turn's words, cut at a word.
  interrupted(turnId, heardText) {
    const turn = this.#turn(turnId);
    turn.heard = joinText(heardText);
    turn.item.classList.add("interrupted");
    this.#render(turn);
  }

  note(turnId, text) {
    const turn = this.#turn(turnId);
    const line = document.createElement("p");
    line.className = "turn-note";
    line.textContent = text;
    turn.item.insertBefore(line, turn.item.querySelector(".turn-figures"));
  }

  tool(text) {
    const item = this.#bubble("tool", "Tool");
    item.querySelector(".text").textContent = text;
  }

  problem(title, text) {
    const item = this.#bubble("problem", title);
    item.querySelector(".text").textContent = text;
  }

  figures(turnId, text) {
    const turn = this.turns.get(turnId);
    if (turn) turn.item.querySelector(".turn-figures").textContent = text;
  }

  #render(turn) {
    const body = turn.item.querySelector(".text");
    if (turn.heard === null) {
      body.textContent = turn.text;
      return;
    }
    const words = turn.text.split(" ").filter(Boolean);
    const heardCount = turn.heard ? turn.heard.split(" ").length : 0;
    const heard = document.createElement("span");
    heard.className = "heard";
    heard.textContent = words.slice(0, heardCount).join(" ");
    const unheard = document.createElement("s");
    unheard.className = "unheard";
    unheard.title = "never heard: cut by the barge-in";
    unheard.textContent = words.slice(heardCount).join(" ");
    body.replaceChildren(heard, unheard.textContent ? " " : "", unheard);
  }
}
