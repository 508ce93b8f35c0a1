/**
 * A roving tab stop (WAI-ARIA toolbar pattern): one button of a group is in the tab order; the arrow
 * keys, Home and End move between them. The index the key moves to, or undefined for other keys.
 */
export function rovingTarget(key: string, index: number, count: number): number | undefined {
  if (count === 0) return undefined;
  switch (key) {
    case 'ArrowRight':
    case 'ArrowDown':
      return (index + 1) % count;
    case 'ArrowLeft':
    case 'ArrowUp':
      return (index - 1 + count) % count;
    case 'Home':
      return 0;
    case 'End':
      return count - 1;
    default:
      return undefined;
  }
}

/** Makes `buttons` one tab stop: the first (or `active`) gets tabindex 0, the rest −1; arrow keys move focus. */
export function rovingToolbar(toolbar: HTMLElement, buttons: HTMLElement[]): void {
  const activate = (target: number) => buttons.forEach((button, i) => button.setAttribute('tabindex', i === target ? '0' : '-1'));
  activate(0);
  toolbar.addEventListener('keydown', (event) => {
    const index = buttons.indexOf(event.target as HTMLElement);
    const target = index < 0 ? undefined : rovingTarget(event.key, index, buttons.length);
    if (target === undefined) return;
    event.preventDefault();
    activate(target);
    buttons[target].focus();
  });
  buttons.forEach((button, i) => button.addEventListener('focus', () => activate(i)));
}
