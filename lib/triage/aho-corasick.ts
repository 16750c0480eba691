// Finds every one of many texts in a string in one pass (Aho-Corasick): the rule index looks for
// all its rules' required texts in a field at once.
export class AhoCorasick {
  private next: Map<number, number>[] = [new Map()];
  private fail: number[] = [0];
  /** Pattern ids ending at a node, its own and its suffixes' (filled after the links are built). */
  private out: number[][] = [[]];

  constructor(patterns: string[]) {
    patterns.forEach((p, id) => {
      let node = 0;
      for (let i = 0; i < p.length; i++) {
        const c = p.charCodeAt(i);
        let to = this.next[node].get(c);
        if (to === undefined) {
          to = this.next.length;
          this.next.push(new Map());
          this.fail.push(0);
          this.out.push([]);
          this.next[node].set(c, to);
        }
        node = to;
      }
      this.out[node].push(id);
    });
    const queue: number[] = [];
    for (const to of this.next[0].values()) queue.push(to);
    for (let q = 0; q < queue.length; q++) {
      const node = queue[q];
      for (const [c, to] of this.next[node]) {
        let f = this.fail[node];
        while (f && !this.next[f].has(c)) f = this.fail[f];
        const via = this.next[f].get(c);
        this.fail[to] = via !== undefined && via !== to ? via : 0;
        if (this.out[this.fail[to]].length) this.out[to] = [...this.out[to], ...this.out[this.fail[to]]];
        queue.push(to);
      }
    }
  }

  /** Calls `found` with the id of each pattern in `text` (once per occurrence). */
  search(text: string, found: (id: number) => void): void {
    let node = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      let to = this.next[node].get(c);
      while (to === undefined && node) {
        node = this.fail[node];
        to = this.next[node].get(c);
      }
      node = to ?? 0;
      const o = this.out[node];
      for (let k = 0; k < o.length; k++) found(o[k]);
    }
  }
}
