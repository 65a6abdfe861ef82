// The simulator's task monitors (DSP0266 §13.2, asynchronous operations): an action answered 202
// gets a task that stays Running for a number of polls, then ends Completed or in Exception.

export interface SimTask {
  polls: number;
  readonly fail: string | null;
}

export class TaskBoard {
  private readonly tasks = new Map<string, SimTask>();
  private next = 1;

  create(polls: number, fail: string | null): string {
    const id = String(this.next++);
    this.tasks.set(id, { polls, fail });
    return id;
  }

  get(id: string): SimTask | undefined {
    return this.tasks.get(id);
  }
}
