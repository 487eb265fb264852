import { BadUserInputError } from '../errors.js';

/** A keyset page's size and direction. */
export interface PageSize {
  size: number;
  /** Asked with `last`: the page is taken from the far end of its window. */
  backward: boolean;
}

/**
 * The size and direction Relay's `first` / `last` ask for: one of them at most, each an integer from 0
 * to `max`, `defaultSize` forward when neither is given (`tasks`, `Task.events`).
 * @throws BadUserInputError naming `last` when both are given, else the one out of range
 */
export function pageSizeOf(p: { first?: number | undefined; last?: number | undefined }, defaultSize: number, max: number): PageSize {
  if (p.first !== undefined && p.last !== undefined) throw new BadUserInputError('Pass either first or last, not both', { field: 'last' });
  for (const [field, value] of [['first', p.first], ['last', p.last]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > max)) {
      throw new BadUserInputError(`${field} must be an integer from 0 to ${max}, got ${value}`, { field });
    }
  }
  return { size: p.last ?? p.first ?? defaultSize, backward: p.last !== undefined };
}
